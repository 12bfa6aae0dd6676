import Testing
@testable import CKSConsole
