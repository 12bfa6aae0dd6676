// The suites' one set of fixtures (CKSTestSupport).
@_exported import CKSTestSupport
