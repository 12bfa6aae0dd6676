import Testing
import CKSClient
