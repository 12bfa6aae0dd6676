// The helpers every suite that starts programs shares (temporary directories, the built `cks`, external tools).
@_exported import CKSTestSupport
