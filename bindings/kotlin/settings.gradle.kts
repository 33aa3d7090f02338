// NOT EXERCISED BY THIS PROJECT'S CI (no Gradle, no Maven Central there);
// run-tests.sh runs `gradle jar coroutinesJar` where Gradle is installed.
//
//   gradle jar coroutinesJar     # the JVM jars, from this folder
//
// The Android library (an AAR) is the module in android/; include it from an
// Android build that has the Android Gradle plugin:
//   include(":wilddog-video-android"); project(":wilddog-video-android").projectDir = file("android")

pluginManagement {
    repositories {
        gradlePluginPortal()
        mavenCentral()
        google()
    }
}

dependencyResolutionManagement {
    repositories {
        mavenCentral()
        google()
    }
}

rootProject.name = "wilddog-video"
