// swift-tools-version:5.9
// Reclora for iOS and macOS: the XCFramework of libreclora_ffi (build-xcframework.sh), the
// Swift wrapper with the uniffi-generated bindings, and the XCTest target.
//
// On Linux (the bindings test in CI) the same targets build against the host
// libreclora_ffi.so: scripts/test-bindings.sh puts its header and a module map in
// .build-linux/RecloraFFI and passes `-Xlinker -L<dir of the .so>`.
import PackageDescription

#if os(Linux)
let ffiTarget: Target = .systemLibrary(name: "RecloraFFI", path: ".build-linux/RecloraFFI")
#else
let ffiTarget: Target = .binaryTarget(name: "RecloraFFI", path: "RecloraFFI.xcframework")
#endif

let package = Package(
    name: "Reclora",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "Reclora", targets: ["Reclora"]),
    ],
    targets: [
        ffiTarget,
        // Sources/Reclora: the wrapper (RecloraRecommender.swift) and Generated/reclora.swift.
        .target(name: "Reclora", dependencies: ["RecloraFFI"], path: "Sources/Reclora"),
        .testTarget(name: "RecloraTests", dependencies: ["Reclora"], path: "Tests/RecloraTests"),
    ]
)
