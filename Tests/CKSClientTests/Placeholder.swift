import Testing
@testable import CKSClient
