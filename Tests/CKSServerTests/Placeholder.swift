import Testing
@testable import CKSServer
