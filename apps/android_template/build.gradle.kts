// Pinned together: Android Gradle Plugin 8.7.3 needs Gradle >= 8.9 (see gradle/wrapper) and
// supports Kotlin 2.1.
plugins {
    id("com.android.application") version "8.7.3" apply false
    id("com.android.library") version "8.7.3" apply false
    id("org.jetbrains.kotlin.android") version "2.1.0" apply false
}
