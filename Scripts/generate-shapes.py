#!/usr/bin/env python3
"""Generate Sources/CKSWire/Generated/Shapes.swift from botocore's KMS model (and, with --service cloudtrail,
Sources/CKSWire/Generated/CloudTrailShapes.swift from its CloudTrail model: LookupEvents only).

Run by hand from the repository root when the operation list or the model changes:

    python3 Scripts/generate-shapes.py            # writes the file
    python3 Scripts/generate-shapes.py --service cloudtrail
    python3 Scripts/generate-shapes.py --check    # exits 1 if the committed file is stale

The model is read from the installed botocore package (botocore/data/kms/2014-11-01/service-2.json.gz),
or from --model PATH. CI does not run this script; its output is committed.

What it emits, for every structure reachable from the listed operations:
- a `public struct` named as botocore names the shape, lowerCamel properties, CodingKeys with the exact
  PascalCase wire names, required members non-optional, timestamps as `Date`, blobs as `Data`,
  enums typed with the CKSDomain enums where they exist (decoded leniently: an unknown value reads as nil);
- `static let wireSchema: WireStructure`, the model's constraints, which `WireValidator` enforces;
- for structures with sensitive members, a `description`/`debugDescription`/`customMirror` that redacts them;
- `WireRequest` conformance for each operation input (target, Response type; ops without output → EmptyResponse);
- `TrentService.operations`, the table of operations by target.
"""
import argparse
import gzip
import json
import os
import re
import sys

OPERATIONS = [
    "CreateCustomKeyStore", "DescribeCustomKeyStores", "ConnectCustomKeyStore", "DisconnectCustomKeyStore",
    "UpdateCustomKeyStore", "DeleteCustomKeyStore",
    "CreateKey", "DescribeKey", "ListKeys", "ScheduleKeyDeletion", "CancelKeyDeletion", "EnableKey", "DisableKey",
    "GetKeyLastUsage", "CreateAlias", "ListAliases", "DeleteAlias",
    "Encrypt", "Decrypt", "GenerateDataKey", "GenerateRandom",
    "CreateGrant", "ListGrants", "ListRetirableGrants", "RetireGrant", "RevokeGrant",
    "GetKeyPolicy", "PutKeyPolicy", "ListKeyPolicies",
    "TagResource", "UntagResource", "ListResourceTags",
    "UpdateAlias", "UpdateKeyDescription", "ReEncrypt", "GenerateDataKeyWithoutPlaintext",
]

CLOUDTRAIL_OPERATIONS = ["LookupEvents"]

# Per service: model directory, operations, the Swift enum naming the service, shape renames (botocore's generic
# names would clash in modules that import CKSWire), output file.
SERVICES = {
    "kms": ("kms/2014-11-01", OPERATIONS, "TrentService", {}, "Shapes.swift"),
    "cloudtrail": ("cloudtrail/2013-11-01", CLOUDTRAIL_OPERATIONS, "CloudTrailService",
                   {"Event": "TrailEvent", "Resource": "TrailResource"}, "CloudTrailShapes.swift"),
}

# botocore enum shape → CKSDomain enum (raw values are the wire values).
DOMAIN_ENUMS = {
    "ConnectionStateType": "ConnectionState",
    "ConnectionErrorCodeType": "ConnectionErrorCode",
    "KeyState": "KeyState",
    "CustomKeyStoreType": "CustomKeyStoreType",
    "XksProxyConnectivityType": "XksProxyConnectivity",
    "OriginType": "Origin",
}

SWIFT_KEYWORDS = {"default", "operator", "protocol", "class", "struct", "enum", "func", "var", "let", "in", "is",
                  "as", "self", "Type", "where", "case", "return", "import", "internal", "public", "private"}


def default_model_path(directory="kms/2014-11-01"):
    import botocore  # noqa: WPS433 (only to locate the data directory)
    return os.path.join(os.path.dirname(botocore.__file__), "data", *directory.split("/"), "service-2.json.gz")


def lower_camel(name):
    """`AWSAccountId` → `awsAccountId`, `KeyId` → `keyId`, `XksKeyId` → `xksKeyId`."""
    m = re.match(r"^([A-Z]+)(?=[A-Z][a-z]|$)", name)
    if m and len(m.group(1)) > 1:
        head = m.group(1).lower()
        result = head + name[len(head):]
    else:
        result = name[0].lower() + name[1:]
    return f"`{result}`" if result in SWIFT_KEYWORDS else result


def first_sentence(html):
    text = re.sub(r"<[^>]+>", "", html or "").replace("\n", " ").strip()
    text = re.sub(r"\s+", " ", text)
    m = re.match(r"(.+?\.)(\s|$)", text)
    return (m.group(1) if m else text)[:300]


def swift_string(s):
    return "#\"" + s + "\"#" if ("\\" in s or '"' in s) else '"' + s + '"'


class Generator:
    def __init__(self, model, operations=OPERATIONS, service_enum="TrentService", renames=None):
        self.model = model
        self.operations = operations
        self.service_enum = service_enum
        self.renames = renames or {}
        self.shapes = model["shapes"]
        self.structures = []  # in discovery order
        for op in operations:
            spec = model["operations"][op]
            for io in ("input", "output"):
                if io in spec:
                    self.walk(spec[io]["shape"])

    def walk(self, name):
        shape = self.shapes[name]
        if shape["type"] == "structure":
            if name in self.structures:
                return
            self.structures.append(name)
            for member in shape["members"].values():
                self.walk(member["shape"])
        elif shape["type"] == "list":
            self.walk(shape["member"]["shape"])
        elif shape["type"] == "map":
            self.walk(shape["key"]["shape"])
            self.walk(shape["value"]["shape"])

    # Swift types ---------------------------------------------------------------------------------
    def swift_type(self, name):
        shape = self.shapes[name]
        t = shape["type"]
        if t == "string":
            return DOMAIN_ENUMS.get(name, "String")
        if t == "integer":
            return "Int"
        if t == "long":
            return "Int64"
        if t == "boolean":
            return "Bool"
        if t in ("double", "float"):
            return "Double"
        if t == "blob":
            return "Data"
        if t == "timestamp":
            return "Date"
        if t == "structure":
            return self.renames.get(name, name)
        if t == "list":
            return "[" + self.swift_type(shape["member"]["shape"]) + "]"
        if t == "map":
            return "[" + self.swift_type(shape["key"]["shape"]) + ": " + self.swift_type(shape["value"]["shape"]) + "]"
        raise ValueError(f"unsupported shape type {t} ({name})")

    def is_sensitive(self, name):
        return bool(self.shapes[name].get("sensitive"))

    # Schemas -------------------------------------------------------------------------------------
    def schema_expr(self, name):
        shape = self.shapes[name]
        t = shape["type"]
        lo, hi = shape.get("min"), shape.get("max")

        def opt(v):
            return "nil" if v is None else str(v)
        if t == "string":
            args = []
            if lo is not None:
                args.append(f"min: {lo}")
            if hi is not None:
                args.append(f"max: {hi}")
            if "pattern" in shape:
                args.append("pattern: " + swift_string(shape["pattern"]))
            if "enum" in shape:
                args.append("enumValues: [" + ", ".join(swift_string(v) for v in shape["enum"]) + "]")
            if shape.get("sensitive"):
                args.append("sensitive: true")
            return ".string(WireStringRules(" + ", ".join(args) + "))"
        if t in ("integer", "long"):
            return f".integer(min: {opt(lo)}, max: {opt(hi)}, bits: {32 if t == 'integer' else 64})"
        if t == "boolean":
            return ".boolean"
        if t in ("double", "float"):
            return ".double"
        if t == "blob":
            return f".blob(min: {opt(lo)}, max: {opt(hi)}, sensitive: {'true' if shape.get('sensitive') else 'false'})"
        if t == "timestamp":
            return ".timestamp"
        if t == "structure":
            return f".structure({self.renames.get(name, name)}.wireSchema)"
        if t == "list":
            return f".list(member: {self.schema_expr(shape['member']['shape'])}, min: {opt(lo)}, max: {opt(hi)})"
        if t == "map":
            return (f".map(key: {self.schema_expr(shape['key']['shape'])}, "
                    f"value: {self.schema_expr(shape['value']['shape'])}, min: {opt(lo)}, max: {opt(hi)})")
        raise ValueError(t)

    # Emission ------------------------------------------------------------------------------------
    def members(self, name):
        shape = self.shapes[name]
        required = set(shape.get("required", []))
        out = []
        for wire, spec in shape["members"].items():
            out.append({
                "wire": wire,
                "prop": lower_camel(wire),
                "type": self.swift_type(spec["shape"]),
                "shape": spec["shape"],
                "required": wire in required,
                "enum": spec["shape"] in DOMAIN_ENUMS,
                "sensitive": self.is_sensitive(spec["shape"]),
                "deprecated": spec.get("deprecated", False),
            })
        return out

    def emit_struct(self, model_name):
        shape = self.shapes[model_name]
        members = self.members(model_name)
        name = self.renames.get(model_name, model_name)
        lines = []
        doc = first_sentence(shape.get("documentation", ""))
        lines.append(f"/// `{name}`" + (f": {doc}" if doc else "."))
        lines.append(f"public struct {name}: Codable, Sendable, Hashable {{")
        for m in members:
            t = m["type"] if m["required"] else m["type"] + "?"
            note = " // sensitive: redacted from description and validation messages" if m["sensitive"] else ""
            lines.append(f"    public var {m['prop']}: {t}{note}")
        # memberwise init
        params = []
        for m in members:
            if m["required"]:
                params.append(f"{m['prop']}: {m['type']}")
            else:
                params.append(f"{m['prop']}: {m['type']}? = nil")
        lines.append("")
        if params:
            lines.append("    public init(" + ", ".join(params) + ") {")
            for m in members:
                p = m["prop"]
                lines.append(f"        self.{p} = {p}")
            lines.append("    }")
        else:
            lines.append("    public init() {}")
        # coding keys
        if members:
            lines.append("")
            lines.append("    enum CodingKeys: String, CodingKey {")
            for m in members:
                lines.append(f"        case {m['prop']} = \"{m['wire']}\"")
            lines.append("    }")
            lines.append("")
            lines.append("    /// Lenient: unknown members are ignored and an unknown enum value reads as nil.")
            lines.append("    public init(from decoder: any Decoder) throws {")
            lines.append("        let c = try decoder.container(keyedBy: CodingKeys.self)")
            for m in members:
                p = m["prop"]
                if m["enum"]:
                    lines.append(f"        self.{p} = c.decodeLenientEnum({m['type']}.self, forKey: .{p})")
                elif m["required"]:
                    lines.append(f"        self.{p} = try c.decode({m['type']}.self, forKey: .{p})")
                else:
                    lines.append(f"        self.{p} = try c.decodeIfPresent({m['type']}.self, forKey: .{p})")
            lines.append("    }")
        else:
            lines.append("")
            lines.append("    public init(from decoder: any Decoder) throws {}")
            lines.append("    public func encode(to encoder: any Encoder) throws { _ = encoder.container(keyedBy: WireNoKeys.self) }")
        lines.append("}")
        lines.append("")
        # schema
        lines.append(f"extension {name} {{")
        lines.append("    /// The model's members and constraints, enforced by `WireValidator`.")
        lines.append(f"    public static let wireSchema = WireStructure(name: \"{name}\", members: [")
        for m in members:
            req = "true" if m["required"] else "false"
            lines.append(f"        WireMember(\"{m['wire']}\", required: {req}, {self.schema_expr(m['shape'])}),")
        lines.append("    ])")
        lines.append("}")
        # redaction
        if any(m["sensitive"] for m in members):
            lines.append("")
            lines.append(f"extension {name}: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {{")
            lines.append("    /// Sensitive members are shown as `<redacted>`, never their value.")
            lines.append("    public var description: String {")
            lines.append(f"        WireRedaction.describe(\"{name}\", [")
            for m in members:
                p = m["prop"]
                if m["sensitive"]:
                    lines.append(f"            (\"{m['wire']}\", {p} == nil ? nil : WireRedaction.redacted),"
                                 if not m["required"] else
                                 f"            (\"{m['wire']}\", WireRedaction.redacted),")
                else:
                    val = f"{p}" if not m["required"] else f"Optional({p})"
                    lines.append(f"            (\"{m['wire']}\", {val}.map(WireRedaction.show)),")
            lines.append("        ])")
            lines.append("    }")
            lines.append("    public var debugDescription: String { description }")
            lines.append("    public var customMirror: Mirror {")
            lines.append("        Mirror(self, children: [")
            for m in members:
                p = m["prop"]
                if m["sensitive"]:
                    lines.append(f"            (label: \"{p}\", value: WireRedaction.redacted as Any),")
                else:
                    lines.append(f"            (label: \"{p}\", value: {p} as Any),")
            lines.append("        ], displayStyle: .struct)")
            lines.append("    }")
            lines.append("}")
        return "\n".join(lines)

    def emit(self):
        meta = self.model["metadata"]
        prefix = meta["targetPrefix"]
        out = [
            f"// GENERATED by Scripts/generate-shapes.py from botocore's {meta['serviceId']} model "
            f"({meta['endpointPrefix']}/{meta['apiVersion']}). Do not edit by hand:",
            "// change the script and run `python3 Scripts/generate-shapes.py` from the repository root.",
            "// swiftlint:disable all",
            "import CKSDomain",
            "import Foundation",
            "",
        ]
        output_less = []
        for name in self.structures:
            out.append(self.emit_struct(name))
            out.append("")
        out.append("// MARK: - Operations")
        out.append("")
        for op in self.operations:
            spec = self.model["operations"][op]
            req = spec["input"]["shape"]
            resp = spec["output"]["shape"] if "output" in spec else "EmptyResponse"
            if "output" not in spec:
                output_less.append(op)
            out.append(f"extension {req}: WireRequest {{")
            out.append(f"    public typealias Response = {resp}")
            out.append(f"    public static let target = \"{prefix}.{op}\"")
            out.append("}")
            out.append("")
        out.append(f"/// The {meta['serviceId']} operations the core speaks (`X-Amz-Target: {prefix}.<Op>`), by target.")
        out.append(f"public enum {self.service_enum} {{")
        out.append(f"    /// The target prefix of the {meta['serviceId']} JSON 1.1 protocol.")
        out.append(f"    public static let targetPrefix = \"{prefix}\"")
        out.append(f"    /// The SigV4 signing name of the service.")
        out.append(f"    public static let signingName = \"{meta.get('signingName', meta['endpointPrefix'])}\"")
        out.append("    /// Every implemented operation, keyed by its full target.")
        out.append("    public static let operations: [String: WireOperation] = WireOperation.table([")
        for op in self.operations:
            req = self.model["operations"][op]["input"]["shape"]
            out.append(f"        WireOperation({req}.self),")
        out.append("    ])")
        out.append("}")
        out.append("")
        return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service", default="kms", choices=sorted(SERVICES))
    parser.add_argument("--model", default=None, help="path to service-2.json(.gz)")
    parser.add_argument("--output", default=None)
    parser.add_argument("--check", action="store_true", help="only compare with the committed file")
    args = parser.parse_args()
    directory, operations, service_enum, renames, filename = SERVICES[args.service]
    args.output = args.output or os.path.join("Sources", "CKSWire", "Generated", filename)
    path = args.model or default_model_path(directory)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        model = json.load(f)
    text = Generator(model, operations, service_enum, renames).emit()
    if args.check:
        with open(args.output, encoding="utf-8") as f:
            if f.read() != text:
                print(f"{args.output} is stale; run Scripts/generate-shapes.py", file=sys.stderr)
                return 1
        return 0
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {args.output} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
