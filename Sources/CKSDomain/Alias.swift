import Foundation

/// A KMS alias (`alias/NAME`) pointing at a key of the same account and region.
public struct KMSAlias: Sendable, Hashable {
    public var name: String
    public var scope: ResourceScope
    public var targetKeyId: String
    public var creationDate: Date
    public var lastUpdatedDate: Date

    public init(name: String, scope: ResourceScope, targetKeyId: String, creationDate: Date, lastUpdatedDate: Date) {
        self.name = name
        self.scope = scope
        self.targetKeyId = targetKeyId
        self.creationDate = creationDate
        self.lastUpdatedDate = lastUpdatedDate
    }

    public var arn: String { scope.aliasARN(name) }
}
