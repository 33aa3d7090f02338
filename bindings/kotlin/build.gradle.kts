// The JVM library: `wilddog-video` (the plain API, src/main/kotlin) and
// `wilddog-video-coroutines` (src/coroutines/kotlin), with the compiler pinned
// to the version run-tests.sh uses. NOT EXERCISED BY THIS PROJECT'S CI, which
// has neither Gradle nor Maven Central: run-tests.sh builds and tests the same
// sources with kotlinc, and runs `gradle jar coroutinesJar` where Gradle is
// installed.
//
//   gradle jar coroutinesJar      # build/libs/wilddog-video-0.1.0.jar, …-coroutines-0.1.0.jar
//   gradle kotlinTests            # the tests run-tests.sh runs; start a server first:
//                                 #   cargo run -p wd-signal -- --dev
//
// The native library comes from cargo (`cargoBuild`); for Android see
// android/build.gradle.kts and docs/getting-started-kotlin.md.

plugins {
    kotlin("jvm") version "2.4.20"
    `java-library`
    `maven-publish`
}

group = "com.wilddog"
version = "0.1.0"

kotlin { jvmToolchain(17) }

val coroutinesVersion = "1.8.0"

sourceSets {
    // The coroutine layer, its own artifact: the plain API stays free of kotlinx.coroutines.
    create("coroutines") {
        kotlin.srcDir("src/coroutines/kotlin")
        compileClasspath += sourceSets["main"].output
        runtimeClasspath += sourceSets["main"].output
    }
    named("test") {
        kotlin.srcDir(layout.buildDirectory.dir("doc-snippets"))
        compileClasspath += sourceSets["coroutines"].output
        runtimeClasspath += sourceSets["coroutines"].output
    }
}

dependencies {
    "coroutinesImplementation"(kotlin("stdlib"))
    "coroutinesImplementation"("org.jetbrains.kotlinx:kotlinx-coroutines-core:$coroutinesVersion")
    testImplementation(kotlin("test"))
    testImplementation("org.jetbrains.kotlinx:kotlinx-coroutines-core:$coroutinesVersion")
}

val coroutinesJar by tasks.registering(Jar::class) {
    description = "The coroutine layer: wilddog-video-coroutines."
    archiveBaseName.set("wilddog-video-coroutines")
    from(sourceSets["coroutines"].output)
}

tasks.jar { archiveBaseName.set("wilddog-video") }

val repoRoot = rootDir.resolve("../..")
val nativeLib = repoRoot.resolve("target/debug/" + System.mapLibraryName("wilddog_video_jni"))

val cargoBuild by tasks.registering(Exec::class) {
    description = "Builds the JNI glue (bindings/kotlin/native) and wd-signal with cargo."
    workingDir = repoRoot
    commandLine("cargo", "build", "--locked", "-p", "wilddog-video-jni", "-p", "wd-signal")
}

// The guide's ```kotlin blocks, as functions the tests compile and run.
val docSnippets by tasks.registering(Exec::class) {
    description = "Generates build/doc-snippets from docs/getting-started-kotlin.md."
    val out = layout.buildDirectory.dir("doc-snippets").get().asFile
    inputs.file(repoRoot.resolve("docs/getting-started-kotlin.md"))
    outputs.dir(out)
    doFirst { out.deleteRecursively(); out.mkdirs() }
    commandLine(
        "python3", repoRoot.resolve("tests/docs/kotlin-snippets.py").absolutePath,
        out.resolve("DocSnippets.kt").absolutePath, repoRoot.resolve("docs/getting-started-kotlin.md").absolutePath,
    )
}

tasks.named("compileTestKotlin") { dependsOn(docSnippets) }

// The tests use a small runner (TestRunnerKt.main), not JUnit.
val kotlinTests by tasks.registering(JavaExec::class) {
    description = "Runs the Kotlin tests against a running wd-signal (-Pwilddog.test.url=ws://…)."
    dependsOn(cargoBuild, tasks.named("testClasses"))
    classpath = sourceSets["test"].runtimeClasspath
    mainClass.set("com.wilddog.video.TestRunnerKt")
    systemProperty("wilddog.video.native", nativeLib.absolutePath)
    systemProperty("wilddog.video.header", repoRoot.resolve("include/wilddog_video.h").absolutePath)
    systemProperty("wilddog.test.root", repoRoot.absolutePath)
    systemProperty("wilddog.test.main.jar", tasks.jar.get().archiveFile.get().asFile.absolutePath)
    systemProperty("wilddog.test.url", findProperty("wilddog.test.url") ?: "ws://127.0.0.1:8480")
}

publishing {
    publications {
        create<MavenPublication>("wilddogVideo") {
            artifactId = "wilddog-video"
            from(components["java"])
        }
        create<MavenPublication>("wilddogVideoCoroutines") {
            artifactId = "wilddog-video-coroutines"
            artifact(coroutinesJar)
            pom.withXml {
                val deps = asNode().appendNode("dependencies")
                fun dep(group: String, name: String, version: String) = deps.appendNode("dependency").apply {
                    appendNode("groupId", group)
                    appendNode("artifactId", name)
                    appendNode("version", version)
                }
                dep("com.wilddog", "wilddog-video", project.version.toString())
                dep("org.jetbrains.kotlinx", "kotlinx-coroutines-core", coroutinesVersion)
            }
        }
    }
}
