// The edgesdk runtime library: tokenizer, exit controller, asset loading (pure Kotlin, also
// checked on a plain JVM by jvm-check/) and the backend for this model's runtime.
plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "dev.edgesdk"
    compileSdk = 35
    defaultConfig {
        minSdk = 24
    }
    sourceSets["main"].java.srcDirs("src/main/kotlin")
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    compilerOptions {
        jvmTarget.set(org.jetbrains.kotlin.gradle.dsl.JvmTarget.JVM_17)
    }
}

// The runtime's version is the Gradle property edgesdk.runtimeVersion: gradle.properties holds
// the exporter's version; -Pedgesdk.runtimeVersion=... overrides (README.md, "Runtime version").
val runtimeVersion = providers.gradleProperty("edgesdk.runtimeVersion").get()

dependencies {
    // @@RUNTIME_NOTE@@
    api(@@RUNTIME_MODULE_KOTLIN@@ + ":" + runtimeVersion)
}
