// swift-tools-version:6.0
// The Swift wrapper of the wilddog-video C library (include/wilddog_video.h).
//
// The C library is found through pkg-config (`wilddog_video.pc`, installed by
// `make install`), or through the flags run-tests.sh passes:
//   swift build -Xcc -I<repo>/include -Xlinker -L<repo>/target/debug
import PackageDescription

let package = Package(
    name: "WilddogVideo",
    products: [
        .library(name: "WilddogVideo", targets: ["WilddogVideo"]),
    ],
    targets: [
        // The C module: wilddog_video.h, linked to libwilddog_video.
        .systemLibrary(
            name: "CWilddogVideo",
            pkgConfig: "wilddog_video"
        ),
        // The Swift API.
        .target(
            name: "WilddogVideo",
            dependencies: ["CWilddogVideo"]
        ),
        // The getting-started example of docs/getting-started-swift.md, as a
        // program (run-tests.sh runs it against a real server).
        .executableTarget(
            name: "GettingStarted",
            dependencies: ["WilddogVideo"]
        ),
        .testTarget(
            name: "WilddogVideoTests",
            dependencies: ["WilddogVideo"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
