import Foundation

/// The core a session started inside this process because nothing named an endpoint: where its data lives and
/// whom the client signs as.
public struct EmbeddedIdentity: Sendable, Equatable {
    public var dataDirectory: URL
    public var account: String
    public var principal: String

    public init(dataDirectory: URL, account: String, principal: String) {
        self.dataDirectory = dataDirectory
        self.account = account
        self.principal = principal
    }
}

/// A client resolved the AWS way, ready to use, and what closing it stops (an embedded core, if one was started).
public protocol ClientSession: Sendable {
    var client: KMSClient { get }
    var configuration: ClientConfiguration { get }
    /// The core started in this process for this session; nil for a configured endpoint.
    var embeddedIdentity: EmbeddedIdentity? { get }
    /// Shuts the client down and stops the embedded core, if one was started.
    func close() async
}
