// The reclora Android library, as an app adds it: `includeBuild("path/to/reclora/android")`
// or the published AAR. Build the Rust side first: `./build-rust.sh` (cargo-ndk).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "reclora-android"
include(":reclora")
