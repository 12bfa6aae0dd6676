import Testing
@testable import CKSWire
