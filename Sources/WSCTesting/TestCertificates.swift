import Foundation

/// A throwaway certificate authority and server certificates for TLS tests, made with the
/// `openssl` command (Debian's `openssl`, which `make deps` installs): the CA's certificate
/// (`ca.pem`), and for each name asked for, `<name>.pem` and `<name>-key.pem`, made out to
/// 127.0.0.1 and localhost, with the name as the common name.
package struct TestCertificates: Sendable {
    package let directory: URL

    package var caFile: String { directory.appendingPathComponent("ca.pem").path }
    package func certificateFile(_ name: String) -> String { directory.appendingPathComponent("\(name).pem").path }
    package func keyFile(_ name: String) -> String { directory.appendingPathComponent("\(name)-key.pem").path }

    /// Makes the CA and a server certificate for each of `names` in a new temporary directory
    /// (with `openssl`, waited for on a thread of its own, not on the concurrency pool).
    package static func make(_ names: [String] = ["server"]) async throws -> TestCertificates {
        try await RawHTTP.onThread { try makeBlocking(names) }
    }

    static func makeBlocking(_ names: [String]) throws -> TestCertificates {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wsctesting-tls-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let certificates = TestCertificates(directory: directory)
        let ca = certificates.keyFile("ca")
        try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca, "-out", certificates.caFile, "-days", "2", "-subj", "/CN=wscenter test CA"])
        let extensions = directory.appendingPathComponent("san.cnf")
        try Data("subjectAltName=IP:127.0.0.1,DNS:localhost\n".utf8).write(to: extensions)
        for name in names {
            let request = directory.appendingPathComponent("\(name).csr").path
            try openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", certificates.keyFile(name), "-out", request, "-subj", "/CN=\(name)"])
            try openssl([
                "x509", "-req", "-in", request, "-CA", certificates.caFile, "-CAkey", ca, "-CAcreateserial",
                "-out", certificates.certificateFile(name), "-days", "2", "-extfile", extensions.path,
            ])
        }
        return certificates
    }

    /// Removes the files.
    package func remove() {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs `openssl` (every path it is given is absolute).
    private static func openssl(_ arguments: [String]) throws {
        let (status, output) = try ProcessRun.runBlocking("/usr/bin/env", ["openssl"] + arguments, timeout: 60)
        guard status == 0 else {
            throw WSCTestingError(.systemCallFailed, "openssl \(arguments.first ?? "") failed: \(output)")
        }
    }
}
