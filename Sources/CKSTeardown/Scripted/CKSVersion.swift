/// The version `cks --version` prints.
public enum CKSVersion {
    public static let current = "0.1.0"
}
