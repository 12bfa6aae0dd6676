import Testing
@testable import CKSDomain
