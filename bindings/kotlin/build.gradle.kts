// NOT EXERCISED HERE. This machine reaches npm but not Maven Central, so the
// project builds and tests the Kotlin wrapper with bindings/kotlin/run-tests.sh
// (kotlinc from the npm package `kotlin-compiler`). This file is what a user
// would start from on their own machine; it has never been run by CI.
//
//   gradle build                       # jar + native library (cargo)
//   gradle kotlinTests                 # the same tests run-tests.sh runs; start a
//                                      # server first: cargo run -p wd-signal -- --dev
//
// For Android, build libwilddog_video_jni.so per ABI (e.g. with cargo-ndk) into
// src/main/jniLibs/<abi>/ of an Android library module instead of the
// `cargoBuild` task below, and note java.lang.ref.Cleaner needs API level 33+.

plugins {
    kotlin("jvm") version "2.4.20"
    `java-library`
}

group = "com.wilddog"
version = "0.1.0"

repositories { mavenCentral() }

dependencies {
    testImplementation(kotlin("test"))
}

kotlin { jvmToolchain(17) }

val repoRoot = rootDir.resolve("../..")
val nativeLib = repoRoot.resolve("target/debug/" + System.mapLibraryName("wilddog_video_jni"))

val cargoBuild by tasks.registering(Exec::class) {
    description = "Builds the JNI glue (bindings/kotlin/native) and wd-signal with cargo."
    workingDir = repoRoot
    commandLine("cargo", "build", "-p", "wilddog-video-jni", "-p", "wd-signal")
}

tasks.named("assemble") { dependsOn(cargoBuild) }

// The tests use a small runner (TestRunnerKt.main), not JUnit.
val kotlinTests by tasks.registering(JavaExec::class) {
    description = "Runs the Kotlin tests against a running wd-signal (-Pwilddog.test.url=ws://…)."
    dependsOn(cargoBuild, tasks.named("testClasses"))
    classpath = sourceSets["test"].runtimeClasspath
    mainClass.set("com.wilddog.video.TestRunnerKt")
    systemProperty("wilddog.video.native", nativeLib.absolutePath)
    systemProperty("wilddog.video.header", repoRoot.resolve("include/wilddog_video.h").absolutePath)
    systemProperty("wilddog.test.url", findProperty("wilddog.test.url") ?: "ws://127.0.0.1:8480")
}

// The tests read `internal` members (diagnostics hooks): same module as main in
// Gradle's default setup, so nothing more is needed.
