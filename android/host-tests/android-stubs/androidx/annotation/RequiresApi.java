package androidx.annotation;

/** Compile-time stand-in for the AndroidX annotation (host check of the android flavour). */
@java.lang.annotation.Retention(java.lang.annotation.RetentionPolicy.CLASS)
public @interface RequiresApi {
    int value() default 1;

    int api() default 1;
}
