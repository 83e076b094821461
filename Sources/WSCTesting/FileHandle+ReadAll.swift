import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension FileHandle {
    /// Everything until end of file, retrying reads a signal interrupts.
    ///
    /// Not `readDataToEndOfFile()`: it is `try! readToEnd()`, which crashes the process on
    /// `EINTR`, and a test process whose children exit all the time gets `SIGCHLD`s (Foundation's
    /// `Process` handles them without `SA_RESTART`).
    package func readAllRetryingInterrupts() throws -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { systemRead(fileDescriptor, $0.baseAddress, $0.count) }
            if count > 0 {
                data.append(contentsOf: buffer[..<count])
            } else if count == 0 {
                return data
            } else if errno != EINTR {
                throw WSCTestingError(.systemCallFailed, "read: \(String(cString: strerror(errno)))")
            }
        }
    }
}

#if canImport(Glibc)
private let systemRead = Glibc.read
#elseif canImport(Musl)
private let systemRead = Musl.read
#elseif canImport(Darwin)
private let systemRead = Darwin.read
#endif
