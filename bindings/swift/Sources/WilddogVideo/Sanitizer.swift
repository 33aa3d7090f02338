#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// ThreadSanitizer cannot see the synchronisation inside the C library (it is
// Rust, not instrumented): a box published on one thread and used by a
// callback on the library's thread would look like a data race although the
// library orders the two. When the process runs under ThreadSanitizer its
// annotation functions exist, and the wrapper states that ordering with them
// (release where a box is handed to the library, acquire where the library
// hands it back). The same holds for a continuation resumed from a thread of
// the wrapper's own (`Client.connect`): the concurrency runtime is not
// instrumented either. Without ThreadSanitizer they are absent and this does
// nothing.

private typealias AnnotationHook = @convention(c) (UnsafeRawPointer?) -> Void

private func annotationHook(_ name: String) -> AnnotationHook? {
    guard let program = dlopen(nil, RTLD_NOW), let symbol = dlsym(program, name) else { return nil }
    return unsafeBitCast(symbol, to: AnnotationHook.self)
}

private let tsanRelease = annotationHook("__tsan_release")
private let tsanAcquire = annotationHook("__tsan_acquire")

/// Everything this thread did so far happens before what follows a later
/// ``acquiredFromC(_:)`` of the same `pointer` (on any thread).
@inline(__always)
func releasedToC(_ pointer: UnsafeRawPointer) {
    tsanRelease?(pointer)
}

/// See ``releasedToC(_:)``.
@inline(__always)
func acquiredFromC(_ pointer: UnsafeRawPointer) {
    tsanAcquire?(pointer)
}
