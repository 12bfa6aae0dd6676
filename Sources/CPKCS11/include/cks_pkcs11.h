// The few PKCS#11 v2.40 types, constants and calls cks needs, declared here so nothing has to be installed at
// build time: the module is loaded with dlopen at run time and reached through its function list.
#ifndef CKS_PKCS11_H
#define CKS_PKCS11_H

#include <stddef.h>

typedef unsigned long CKS_ULONG;
typedef unsigned char CKS_BYTE;

// CK_RV values the proxy tells apart.
#define CKS_CKR_OK 0x0UL
#define CKS_CKR_PIN_INCORRECT 0xA0UL
#define CKS_CKR_PIN_LOCKED 0xA4UL
#define CKS_CKR_USER_ALREADY_LOGGED_IN 0x100UL
#define CKS_CKR_ENCRYPTED_DATA_INVALID 0x40UL
#define CKS_CKR_ENCRYPTED_DATA_LEN_RANGE 0x41UL
#define CKS_CKR_KEY_HANDLE_INVALID 0x60UL
#define CKS_CKR_OBJECT_HANDLE_INVALID 0x82UL
#define CKS_CKR_KEY_FUNCTION_NOT_PERMITTED 0x68UL
#define CKS_CKR_KEY_TYPE_INCONSISTENT 0x63UL
#define CKS_CKR_SESSION_CLOSED 0xB0UL
#define CKS_CKR_SESSION_HANDLE_INVALID 0xB3UL
#define CKS_CKR_TOKEN_NOT_PRESENT 0xE0UL
#define CKS_CKR_TOKEN_NOT_RECOGNIZED 0xE1UL
#define CKS_CKR_DEVICE_REMOVED 0x32UL
#define CKS_CKR_DEVICE_ERROR 0x30UL
#define CKS_CKR_SLOT_ID_INVALID 0x3UL

/// The fields of CK_TOKEN_INFO the proxy shows (space-padded, not NUL-terminated, as the token reports them).
typedef struct {
    char label[33];
    char manufacturer[33];
    char model[17];
    char serial[17];
    CKS_BYTE firmwareMajor;
    CKS_BYTE firmwareMinor;
} cks_p11_token;

/// A loaded, initialised module.
typedef struct cks_p11 cks_p11;

/// dlopen + C_GetFunctionList + C_Initialize (OS locking). NULL on failure, with the reason in `error`.
cks_p11 *cks_p11_load(const char *path, char *error, size_t errorLength);
/// C_Finalize + dlclose.
void cks_p11_unload(cks_p11 *module);

/// The slot holding the token whose label (trailing spaces ignored) is `label`. Returns CKR_TOKEN_NOT_PRESENT
/// when none does; `labels` gets the labels seen, separated by newlines (for the error message).
CKS_ULONG cks_p11_find_token(cks_p11 *module, const char *label, CKS_ULONG *slot, cks_p11_token *info,
                             char *labels, size_t labelsLength);
CKS_ULONG cks_p11_open_session(cks_p11 *module, CKS_ULONG slot, CKS_ULONG *session);
CKS_ULONG cks_p11_close_session(cks_p11 *module, CKS_ULONG session);
/// C_Login as CKU_USER; already logged in counts as success.
CKS_ULONG cks_p11_login(cks_p11 *module, CKS_ULONG session, const CKS_BYTE *pin, CKS_ULONG pinLength);

/// The secret key labelled `label`: `count` is how many objects matched (the first is returned).
CKS_ULONG cks_p11_find_secret_key(cks_p11 *module, CKS_ULONG session, const CKS_BYTE *label, CKS_ULONG labelLength,
                                  CKS_ULONG *key, CKS_ULONG *count);
/// CKA_KEY_TYPE, CKA_VALUE_LEN, CKA_ENCRYPT, CKA_DECRYPT of a key (value length 0 when the token withholds it).
CKS_ULONG cks_p11_key_attributes(cks_p11 *module, CKS_ULONG session, CKS_ULONG key, CKS_ULONG *keyType,
                                 CKS_ULONG *valueLength, CKS_BYTE *canEncrypt, CKS_BYTE *canDecrypt);
/// True when the key type is CKK_AES.
int cks_p11_is_aes(CKS_ULONG keyType);

/// CKM_AES_GCM with a 128-bit tag: `out` receives ciphertext ‖ tag (inLength + 16 bytes).
CKS_ULONG cks_p11_gcm_encrypt(cks_p11 *module, CKS_ULONG session, CKS_ULONG key, const CKS_BYTE *iv,
                              CKS_ULONG ivLength, const CKS_BYTE *aad, CKS_ULONG aadLength, const CKS_BYTE *in,
                              CKS_ULONG inLength, CKS_BYTE *out, CKS_ULONG *outLength);
/// CKM_AES_GCM decryption of ciphertext ‖ tag.
CKS_ULONG cks_p11_gcm_decrypt(cks_p11 *module, CKS_ULONG session, CKS_ULONG key, const CKS_BYTE *iv,
                              CKS_ULONG ivLength, const CKS_BYTE *aad, CKS_ULONG aadLength, const CKS_BYTE *in,
                              CKS_ULONG inLength, CKS_BYTE *out, CKS_ULONG *outLength);

/// A session-only (CKA_TOKEN false) AES-256 key for the deep health check; destroy it after use.
CKS_ULONG cks_p11_generate_test_key(cks_p11 *module, CKS_ULONG session, CKS_ULONG *key);
CKS_ULONG cks_p11_destroy_object(cks_p11 *module, CKS_ULONG session, CKS_ULONG object);

#endif
