// Plugin versions come from gradle.properties (edgesdk.agpVersion, edgesdk.kotlinVersion) through
// settings.gradle.kts; -Pedgesdk.agpVersion=... overrides. AGP 8.7 needs Gradle >= 8.9 (see
// gradle/wrapper) and JDK 17.
plugins {
    id("com.android.application") apply false
    id("com.android.library") apply false
    id("org.jetbrains.kotlin.android") apply false
}
