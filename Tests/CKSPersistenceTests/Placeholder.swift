import Testing
@testable import CKSPersistence
