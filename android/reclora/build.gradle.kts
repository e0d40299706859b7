// dev.reclora: the Kotlin API of the reclora on-device recommender.
//
// Sources: src/main/kotlin (the coroutine wrapper) and the uniffi-generated bindings that
// ../build-rust.sh writes to build/generated/uniffi; native libraries: the cargo-ndk output
// in src/main/jniLibs (arm64-v8a, armeabi-v7a, x86_64), linked for 16 KB pages.
plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "dev.reclora"
    compileSdk = 35

    defaultConfig {
        minSdk = 24
        consumerProguardFiles("consumer-rules.pro")
        ndk {
            abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64")
        }
    }

    sourceSets {
        getByName("main") {
            java.srcDir("build/generated/uniffi")
            jniLibs.srcDir("src/main/jniLibs")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    packaging {
        // Keep the .so files uncompressed and page-aligned in the APK (16 KB devices).
        jniLibs.useLegacyPackaging = false
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    // The AAR carries libjnidispatch.so for every ABI; 5.17 is built for 16 KB pages.
    implementation("net.java.dev.jna:jna:5.17.0@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.9.0")
    implementation("androidx.annotation:annotation:1.9.1")

    // Host-JVM tests load the host build of libreclora_ffi through the plain JNA jar.
    testImplementation("net.java.dev.jna:jna:5.17.0")
    testImplementation("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.9.0")
    testImplementation(kotlin("test"))
}
