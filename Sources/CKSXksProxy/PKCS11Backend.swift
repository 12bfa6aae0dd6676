import CKSWire
import CPKCS11
import Foundation
import Synchronization

/// Keys on a PKCS#11 token (an HSM, or SoftHSM for tests), found by label = the key's id. The module is
/// loaded with dlopen; sessions are pooled (a PKCS#11 session runs one operation at a time) and logged in once.
public final class PKCS11Backend: KeyBackend, @unchecked Sendable {
    /// A NUL-terminated C buffer as text (invalid UTF-8 repaired).
    static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // @unchecked: `module` is an opaque C pointer used only through the module's own thread-safe calls
    // (initialised with CKF_OS_LOCKING_OK); everything mutable is behind `state`.
    private let module: OpaquePointer
    public let modulePath: String
    public let tokenLabel: String
    private let pin: [UInt8]

    private struct State {
        var slot: UInt
        var token: cks_p11_token
        var idle: [UInt] = []
        var keyHandles: [String: UInt] = [:]
        /// What the token permitted for each key, read at most once a second per key.
        var permitted: [String: (at: ContinuousClock.Instant, info: BackendKeyInfo)] = [:]
        var lastHealth: (at: ContinuousClock.Instant, ekms: [XKSHealthStatus.EKM])?
    }
    private let state: Mutex<State>

    /// Loads the module, finds the token and logs in; every failure names its cause (missing module, unknown
    /// token label with the labels present, wrong PIN).
    public init(modulePath: String, tokenLabel: String, pinFile: String) throws(XksProxyError) {
        guard FileManager.default.fileExists(atPath: modulePath) else {
            throw XksProxyError("the PKCS#11 module \(modulePath) does not exist (for SoftHSM it is usually /usr/lib/softhsm/libsofthsm2.so)")
        }
        try ProxyDataDirectory.checkPrivateFile(pinFile, what: "PIN file")
        guard let pinData = FileManager.default.contents(atPath: pinFile) else {
            throw XksProxyError("cannot read the PIN file \(pinFile)")
        }
        var pin = [UInt8](pinData)
        while let last = pin.last, last == 0x0A || last == 0x0D { pin.removeLast() }
        guard !pin.isEmpty else { throw XksProxyError("the PIN file \(pinFile) is empty") }

        var error = [CChar](repeating: 0, count: 512)
        guard let module = cks_p11_load(modulePath, &error, error.count) else {
            throw XksProxyError("cannot load the PKCS#11 module \(modulePath): \(Self.text(error))")
        }
        var slot: CKS_ULONG = 0
        var token = cks_p11_token()
        var labels = [CChar](repeating: 0, count: 2048)
        let found = cks_p11_find_token(module, tokenLabel, &slot, &token, &labels, labels.count)
        guard found == CKS_CKR_OK else {
            cks_p11_unload(module)
            let seen = Self.text(labels).split(separator: "\n").map { "'\($0)'" }.joined(separator: ", ")
            throw XksProxyError("no token labelled '\(tokenLabel)' in the PKCS#11 module \(modulePath) "
                + (seen.isEmpty ? "(it has no initialised token)" : "(tokens: \(seen))"))
        }
        var session: CKS_ULONG = 0
        var rv = cks_p11_open_session(module, slot, &session)
        if rv == CKS_CKR_OK {
            rv = cks_p11_login(module, session, pin, CKS_ULONG(pin.count))
            if rv != CKS_CKR_OK { _ = cks_p11_close_session(module, session) }
        }
        guard rv == CKS_CKR_OK else {
            cks_p11_unload(module)
            switch rv {
            case CKS_CKR_PIN_INCORRECT:
                throw XksProxyError("the PIN in \(pinFile) is incorrect for token '\(tokenLabel)' (CKR_PIN_INCORRECT)")
            case CKS_CKR_PIN_LOCKED:
                throw XksProxyError("the user PIN of token '\(tokenLabel)' is locked (CKR_PIN_LOCKED); unlock it with the token's SO PIN")
            default:
                throw XksProxyError("cannot log in to token '\(tokenLabel)': \(Self.describe(rv))")
            }
        }
        self.module = module
        self.modulePath = modulePath
        self.tokenLabel = tokenLabel
        self.pin = pin
        self.state = Mutex(State(slot: UInt(slot), token: token, idle: [UInt(session)]))
    }

    deinit {
        let sessions = state.withLock { $0.idle }
        for session in sessions { _ = cks_p11_close_session(module, CKS_ULONG(session)) }
        cks_p11_unload(module)
    }

    public var vendor: String {
        let token = state.withLock { $0.token }
        let manufacturer = withUnsafeBytes(of: token.manufacturer) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return manufacturer.isEmpty ? "PKCS#11" : manufacturer
    }

    public func prepare(keyIds: [String]) throws(XksProxyError) -> [String] {
        state.withLock { $0.keyHandles = [:] }
        var warnings: [String] = []
        for id in keyIds {
            do {
                let info = try describe(keyId: id)
                if info.permits.isEmpty { warnings.append("token key '\(id)' permits neither encryption nor decryption") }
            } catch .keyNotFound {
                warnings.append("no secret key labelled '\(id)' on token '\(tokenLabel)': requests for it get KeyNotFoundException")
            } catch .unusableKey(let why) {
                warnings.append(why)
            } catch {
                throw XksProxyError("token '\(tokenLabel)' failed while looking up key '\(id)': \(error)")
            }
        }
        return warnings
    }

    // MARK: - Sessions

    private func withSession<T>(_ body: (CKS_ULONG) throws(KeyBackendFailure) -> T) throws(KeyBackendFailure) -> T {
        var session = state.withLock { $0.idle.popLast() }
        if session == nil {
            var opened: CKS_ULONG = 0
            let slot = state.withLock { $0.slot }
            let rv = cks_p11_open_session(module, CKS_ULONG(slot), &opened)
            guard rv == CKS_CKR_OK else { throw .unavailable("cannot open a session on token '\(tokenLabel)': \(Self.describe(rv))") }
            // Login state is shared by the application's sessions; this only matters after the token came back.
            _ = cks_p11_login(module, opened, pin, CKS_ULONG(pin.count))
            session = UInt(opened)
        }
        let handle = CKS_ULONG(session!)
        do {
            let result = try body(handle)
            state.withLock { $0.idle.append(UInt(handle)) }
            return result
        } catch {
            if case .unavailable = error {
                _ = cks_p11_close_session(module, handle)
            } else {
                state.withLock { $0.idle.append(UInt(handle)) }
            }
            throw error
        }
    }

    /// Errors that mean the session or token is gone, not that the request was wrong.
    private static func isTokenFailure(_ rv: CKS_ULONG) -> Bool {
        [CKS_CKR_SESSION_CLOSED, CKS_CKR_SESSION_HANDLE_INVALID, CKS_CKR_TOKEN_NOT_PRESENT, CKS_CKR_TOKEN_NOT_RECOGNIZED,
         CKS_CKR_DEVICE_REMOVED, CKS_CKR_DEVICE_ERROR, CKS_CKR_SLOT_ID_INVALID].contains(rv)
    }

    static func describe(_ rv: CKS_ULONG) -> String { "CKR 0x" + String(rv, radix: 16, uppercase: true) }

    private func keyHandle(_ id: String, session: CKS_ULONG, refresh: Bool = false) throws(KeyBackendFailure) -> CKS_ULONG {
        if !refresh, let known = state.withLock({ $0.keyHandles[id] }) { return CKS_ULONG(known) }
        var key: CKS_ULONG = 0
        var count: CKS_ULONG = 0
        let label = Array(id.utf8)
        let rv = cks_p11_find_secret_key(module, session, label, CKS_ULONG(label.count), &key, &count)
        guard rv == CKS_CKR_OK else { throw .unavailable("finding key '\(id)' failed: \(Self.describe(rv))") }
        guard count > 0 else { throw .keyNotFound }
        state.withLock { $0.keyHandles[id] = UInt(key) }
        return key
    }

    // MARK: - KeyBackend

    /// The key's type and permitted operations, cached for a second: a crypto call on the token refuses an
    /// operation the key no longer permits anyway, so the cache never lets one through.
    public func describe(keyId: String) throws(KeyBackendFailure) -> BackendKeyInfo {
        let now = ContinuousClock.now
        if let cached = state.withLock({ $0.permitted[keyId] }), now - cached.at < .seconds(1) { return cached.info }
        let info = try readKeyAttributes(keyId)
        state.withLock { $0.permitted[keyId] = (now, info) }
        return info
    }

    private func readKeyAttributes(_ keyId: String) throws(KeyBackendFailure) -> BackendKeyInfo {
        try withSession { (session) throws(KeyBackendFailure) -> BackendKeyInfo in
            var attempt = 0
            while true {
                let key = try keyHandle(keyId, session: session, refresh: attempt > 0)
                var type: CKS_ULONG = 0, length: CKS_ULONG = 0
                var encrypt: CKS_BYTE = 0, decrypt: CKS_BYTE = 0
                let rv = cks_p11_key_attributes(module, session, key, &type, &length, &encrypt, &decrypt)
                if (rv == CKS_CKR_OBJECT_HANDLE_INVALID || rv == CKS_CKR_KEY_HANDLE_INVALID), attempt == 0 {
                    attempt += 1
                    continue
                }
                guard rv == CKS_CKR_OK else { throw .unavailable("reading key '\(keyId)' failed: \(Self.describe(rv))") }
                guard cks_p11_is_aes(type) != 0, length == 32 || length == 0 else {
                    throw .unusableKey("token key '\(keyId)' is not an AES-256 key")
                }
                var permits: Set<ProxyConfiguration.KeyUsage> = []
                if encrypt != 0 { permits.insert(.encrypt) }
                if decrypt != 0 { permits.insert(.decrypt) }
                return BackendKeyInfo(permits: permits)
            }
        }
    }

    public func seal(keyId: String, iv: Data, aad: Data, plaintext: Data) throws(KeyBackendFailure) -> (ciphertext: Data, tag: Data) {
        let output = try gcm(encrypt: true, keyId: keyId, iv: iv, aad: aad, input: plaintext, outputCapacity: plaintext.count + 16)
        guard output.count == plaintext.count + 16 else { throw .unavailable("the token returned \(output.count) bytes for \(plaintext.count)") }
        return (output.prefix(plaintext.count), output.suffix(16))
    }

    public func open(keyId: String, iv: Data, aad: Data, ciphertext: Data, tag: Data) throws(KeyBackendFailure) -> Data {
        try gcm(encrypt: false, keyId: keyId, iv: iv, aad: aad, input: ciphertext + tag, outputCapacity: ciphertext.count + 16)
    }

    private func gcm(encrypt: Bool, keyId: String, iv: Data, aad: Data, input: Data, outputCapacity: Int) throws(KeyBackendFailure) -> Data {
        try withSession { (session) throws(KeyBackendFailure) -> Data in
            var attempt = 0
            while true {
                let key = try keyHandle(keyId, session: session, refresh: attempt > 0)
                var output = [UInt8](repeating: 0, count: outputCapacity)
                var outputLength = CKS_ULONG(outputCapacity)
                let ivBytes = [UInt8](iv), aadBytes = [UInt8](aad), inputBytes = [UInt8](input)
                let rv = encrypt
                    ? cks_p11_gcm_encrypt(module, session, key, ivBytes, CKS_ULONG(ivBytes.count), aadBytes,
                                          CKS_ULONG(aadBytes.count), inputBytes, CKS_ULONG(inputBytes.count), &output, &outputLength)
                    : cks_p11_gcm_decrypt(module, session, key, ivBytes, CKS_ULONG(ivBytes.count), aadBytes,
                                          CKS_ULONG(aadBytes.count), inputBytes, CKS_ULONG(inputBytes.count), &output, &outputLength)
                if rv == CKS_CKR_OK { return Data(output.prefix(Int(outputLength))) }
                if rv == CKS_CKR_OBJECT_HANDLE_INVALID || rv == CKS_CKR_KEY_HANDLE_INVALID, attempt == 0 {
                    attempt += 1
                    continue
                }
                if rv == CKS_CKR_KEY_FUNCTION_NOT_PERMITTED || rv == CKS_CKR_KEY_TYPE_INCONSISTENT {
                    throw .unusableKey("token key '\(keyId)' does not permit AES-GCM \(encrypt ? "encryption" : "decryption")")
                }
                if Self.isTokenFailure(rv) { throw .unavailable("token '\(tokenLabel)' failed: \(Self.describe(rv))") }
                // A decrypt failure of a well-formed request means the ciphertext, IV, AAD or tag is not this key's.
                if !encrypt { throw .tagMismatch }
                throw .unavailable("AES-GCM encryption on token '\(tokenLabel)' failed: \(Self.describe(rv))")
            }
        }
    }

    /// A deep check, cached for a second (the spec allows up to a minute): find the token again by label, open a
    /// session, and round-trip a block through a session-only AES-256 key. Any failure: UNAVAILABLE.
    public func health() -> [XKSHealthStatus.EKM] {
        let now = ContinuousClock.now
        if let cached = state.withLock({ $0.lastHealth }), now - cached.at < .seconds(1) { return cached.ekms }
        let status = deepCheck()
        let token = state.withLock { $0.token }
        func text<T>(_ value: T) -> String { withUnsafeBytes(of: value) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) } }
        let serial = text(token.serial)
        let model = "\(text(token.manufacturer)) \(text(token.model)) firmware \(token.firmwareMajor).\(token.firmwareMinor)"
            .trimmingCharacters(in: .whitespaces)
        let ekms = [XKSHealthStatus.EKM(id: serial.isEmpty ? tokenLabel : "\(tokenLabel) (\(serial))", model: model,
                                        healthStatus: status)]
        state.withLock { $0.lastHealth = (now, ekms) }
        return ekms
    }

    private func deepCheck() -> XKSHealthStatus.Status {
        var slot: CKS_ULONG = 0
        var token = cks_p11_token()
        var labels = [CChar](repeating: 0, count: 256)
        guard cks_p11_find_token(module, tokenLabel, &slot, &token, &labels, labels.count) == CKS_CKR_OK else {
            return .unavailable
        }
        let moved = state.withLock { state -> Bool in
            let moved = state.slot != UInt(slot)
            state.slot = UInt(slot)
            state.token = token
            return moved
        }
        if moved { dropSessions() }
        var session: CKS_ULONG = 0
        guard cks_p11_open_session(module, slot, &session) == CKS_CKR_OK else { return .unavailable }
        defer { _ = cks_p11_close_session(module, session) }
        guard cks_p11_login(module, session, pin, CKS_ULONG(pin.count)) == CKS_CKR_OK else { return .unavailable }
        var key: CKS_ULONG = 0
        guard cks_p11_generate_test_key(module, session, &key) == CKS_CKR_OK else { return .unavailable }
        defer { _ = cks_p11_destroy_object(module, session, key) }
        let iv = [UInt8](repeating: 7, count: 12), text = Array("cks health".utf8)
        var sealed = [UInt8](repeating: 0, count: text.count + 16)
        var sealedLength = CKS_ULONG(sealed.count)
        guard cks_p11_gcm_encrypt(module, session, key, iv, 12, nil, 0, text, CKS_ULONG(text.count), &sealed, &sealedLength) == CKS_CKR_OK
        else { return .unavailable }
        var opened = [UInt8](repeating: 0, count: sealed.count)
        var openedLength = CKS_ULONG(opened.count)
        guard cks_p11_gcm_decrypt(module, session, key, iv, 12, nil, 0, sealed, sealedLength, &opened, &openedLength) == CKS_CKR_OK,
              Array(opened.prefix(Int(openedLength))) == text else { return .degraded }
        return .active
    }

    /// Closes pooled sessions (after the token moved slots or came back) and forgets key handles.
    private func dropSessions() {
        let sessions = state.withLock { state -> [UInt] in
            defer { state.idle = []; state.keyHandles = [:]; state.permitted = [:] }
            return state.idle
        }
        for session in sessions { _ = cks_p11_close_session(module, CKS_ULONG(session)) }
    }
}
