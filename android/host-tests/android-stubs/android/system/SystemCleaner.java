package android.system;

/** Compile-time stand-in for the Android SDK class (host check of the android flavour). */
public final class SystemCleaner {
    public static java.lang.ref.Cleaner cleaner() {
        throw new UnsupportedOperationException("stub");
    }
}
