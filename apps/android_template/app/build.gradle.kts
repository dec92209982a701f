plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "dev.edgesdk.app"
    compileSdk = 35
    defaultConfig {
        applicationId = @@APPLICATION_ID_KOTLIN@@
        minSdk = 24
        targetSdk = 35
        versionCode = 1
        versionName = "1.0"
    }
    sourceSets["main"].java.srcDirs("src/main/kotlin")
    // The model is memory-mapped or copied out of the APK: keep it uncompressed.
    androidResources {
        noCompress += listOf("pte", "tflite")
    }
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

dependencies {
    implementation(project(":edgesdk"))
}
