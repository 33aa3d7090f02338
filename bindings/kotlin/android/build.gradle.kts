// The Android library `com.wilddog:wilddog-video-android` (an AAR): the plain
// API and the coroutine layer, the native library per ABI, and the consumer
// R8 rules. NOT BUILT BY THIS PROJECT'S CI: it has no Android SDK, NDK or
// Gradle. docs/getting-started-kotlin.md ("Android") says how to build it:
//
//   RUSTFLAGS="-C link-arg=-Wl,-z,max-page-size=16384" \
//     cargo ndk -t arm64-v8a -t armeabi-v7a -t x86_64 --platform 24 \
//       -o bindings/kotlin/android/src/main/jniLibs build --release -p wilddog-video-jni
//   gradle :wilddog-video-android:assembleRelease
//
// The AAR then holds classes.jar, jni/<abi>/libwilddog_video_jni.so and
// proguard.txt (../consumer-rules.pro). The 16 KB page alignment Android 15+
// asks of native libraries comes from the linker flag above.

plugins {
    id("com.android.library") version "8.7.3"
    kotlin("android") version "2.4.20"
    `maven-publish`
}

group = "com.wilddog"
version = "0.1.0"

android {
    namespace = "com.wilddog.video"
    compileSdk = 35

    defaultConfig {
        // No Android API of its own: java.lang.ref.Cleaner is used only from API 33,
        // a phantom-reference cleaner below; android.util.Log and the main Looper
        // are found by reflection.
        minSdk = 24
        consumerProguardFiles("../consumer-rules.pro")
    }

    sourceSets {
        named("main") {
            kotlin.srcDirs("../src/main/kotlin", "../src/coroutines/kotlin")
            // cargo ndk -o src/main/jniLibs: one folder per ABI.
            jniLibs.srcDirs("src/main/jniLibs")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    publishing {
        singleVariant("release")
    }
}

kotlin { jvmToolchain(17) }

dependencies {
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.8.0")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.8.0")
}

publishing {
    publications {
        create<MavenPublication>("release") {
            artifactId = "wilddog-video-android"
            afterEvaluate { from(components["release"]) }
        }
    }
}
