package android.os;

/** Compile-time stand-in for the Android SDK class (host check of the android flavour). */
public class Build {
    public static class VERSION {
        public static final int SDK_INT = 0;
    }

    public static class VERSION_CODES {
        public static final int UPSIDE_DOWN_CAKE = 34;
    }
}
