/// The constraints of botocore's model, as data: `WireValidator` walks a request against them.
/// Generated for every KMS shape (`Generated/Shapes.swift`) and written by hand for the admin API (`Admin.swift`).

/// A structure shape: its members in model order (validation messages follow that order).
public struct WireStructure: Sendable {
    public let name: String
    public let members: [WireMember]

    public init(name: String, members: [WireMember]) {
        self.name = name
        self.members = members
    }
}

/// One member of a structure: its wire name (PascalCase), whether the model requires it, and its shape.
public struct WireMember: Sendable {
    public let name: String
    public let required: Bool
    public let shape: WireShape

    public init(_ name: String, required: Bool, _ shape: WireShape) {
        self.name = name
        self.required = required
        self.shape = shape
    }

    /// The name as AWS writes it in validation messages: first letter lowercased (`CustomKeyStoreName` →
    /// `customKeyStoreName`).
    public var pathName: String { name.prefix(1).lowercased() + name.dropFirst() }
}

/// A shape's type and constraints.
public indirect enum WireShape: Sendable {
    case string(WireStringRules)
    /// `bits` is 32 for the model's `integer` (a Java int), 64 for `long`.
    case integer(min: Int?, max: Int?, bits: Int)
    case boolean
    case double
    /// Base64 on the wire; the length constraints count decoded bytes.
    case blob(min: Int?, max: Int?, sensitive: Bool)
    /// Epoch seconds as a JSON number.
    case timestamp
    case structure(WireStructure)
    case list(member: WireShape, min: Int?, max: Int?)
    case map(key: WireShape, value: WireShape, min: Int?, max: Int?)
}

/// Constraints of a string shape. Lengths count UTF-16 code units, as Java does.
public struct WireStringRules: Sendable {
    public let min: Int?
    public let max: Int?
    /// A Java regular expression that must match the whole value.
    public let pattern: String?
    public let enumValues: [String]?
    /// Sensitive values never appear in validation messages or descriptions.
    public let sensitive: Bool

    public init(min: Int? = nil, max: Int? = nil, pattern: String? = nil, enumValues: [String]? = nil,
                sensitive: Bool = false) {
        self.min = min
        self.max = max
        self.pattern = pattern
        self.enumValues = enumValues
        self.sensitive = sensitive
    }
}
