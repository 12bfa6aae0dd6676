// PKCS#11 v2.40 through dlopen: the structures below follow the standard's layout (pkcs11t.h, pkcs11f.h) for
// the members cks uses; the function list keeps every slot in order so the offsets match any module.
#include "cks_pkcs11.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef CKS_ULONG CK_RV;
typedef CKS_ULONG CK_ULONG;
typedef CKS_BYTE CK_BYTE;
typedef CK_BYTE CK_BBOOL;
typedef void *CK_VOID_PTR;

typedef struct { CK_BYTE major; CK_BYTE minor; } CK_VERSION;

typedef struct {
    CK_BYTE label[32];
    CK_BYTE manufacturerID[32];
    CK_BYTE model[16];
    CK_BYTE serialNumber[16];
    CK_ULONG flags;
    CK_ULONG ulMaxSessionCount, ulSessionCount, ulMaxRwSessionCount, ulRwSessionCount;
    CK_ULONG ulMaxPinLen, ulMinPinLen;
    CK_ULONG ulTotalPublicMemory, ulFreePublicMemory, ulTotalPrivateMemory, ulFreePrivateMemory;
    CK_VERSION hardwareVersion;
    CK_VERSION firmwareVersion;
    CK_BYTE utcTime[16];
} CK_TOKEN_INFO;

typedef struct { CK_ULONG type; void *pValue; CK_ULONG ulValueLen; } CK_ATTRIBUTE;
typedef struct { CK_ULONG mechanism; void *pParameter; CK_ULONG ulParameterLen; } CK_MECHANISM;
typedef struct {
    CK_BYTE *pIv; CK_ULONG ulIvLen; CK_ULONG ulIvBits; CK_BYTE *pAAD; CK_ULONG ulAADLen; CK_ULONG ulTagBits;
} CK_GCM_PARAMS;
typedef struct {
    void *CreateMutex, *DestroyMutex, *LockMutex, *UnlockMutex;
    CK_ULONG flags;
    void *pReserved;
} CK_C_INITIALIZE_ARGS;

typedef CK_RV (*fn_any)(void);
typedef struct {
    CK_VERSION version;
    CK_RV (*C_Initialize)(void *);
    CK_RV (*C_Finalize)(void *);
    fn_any C_GetInfo, C_GetFunctionList;
    CK_RV (*C_GetSlotList)(CK_BBOOL, CK_ULONG *, CK_ULONG *);
    fn_any C_GetSlotInfo;
    CK_RV (*C_GetTokenInfo)(CK_ULONG, CK_TOKEN_INFO *);
    fn_any C_GetMechanismList, C_GetMechanismInfo, C_InitToken, C_InitPIN, C_SetPIN;
    CK_RV (*C_OpenSession)(CK_ULONG, CK_ULONG, void *, void *, CK_ULONG *);
    CK_RV (*C_CloseSession)(CK_ULONG);
    fn_any C_CloseAllSessions, C_GetSessionInfo, C_GetOperationState, C_SetOperationState;
    CK_RV (*C_Login)(CK_ULONG, CK_ULONG, const CK_BYTE *, CK_ULONG);
    fn_any C_Logout, C_CreateObject, C_CopyObject;
    CK_RV (*C_DestroyObject)(CK_ULONG, CK_ULONG);
    fn_any C_GetObjectSize;
    CK_RV (*C_GetAttributeValue)(CK_ULONG, CK_ULONG, CK_ATTRIBUTE *, CK_ULONG);
    fn_any C_SetAttributeValue;
    CK_RV (*C_FindObjectsInit)(CK_ULONG, CK_ATTRIBUTE *, CK_ULONG);
    CK_RV (*C_FindObjects)(CK_ULONG, CK_ULONG *, CK_ULONG, CK_ULONG *);
    CK_RV (*C_FindObjectsFinal)(CK_ULONG);
    CK_RV (*C_EncryptInit)(CK_ULONG, CK_MECHANISM *, CK_ULONG);
    CK_RV (*C_Encrypt)(CK_ULONG, const CK_BYTE *, CK_ULONG, CK_BYTE *, CK_ULONG *);
    fn_any C_EncryptUpdate, C_EncryptFinal;
    CK_RV (*C_DecryptInit)(CK_ULONG, CK_MECHANISM *, CK_ULONG);
    CK_RV (*C_Decrypt)(CK_ULONG, const CK_BYTE *, CK_ULONG, CK_BYTE *, CK_ULONG *);
    fn_any C_DecryptUpdate, C_DecryptFinal;
    fn_any C_DigestInit, C_Digest, C_DigestUpdate, C_DigestKey, C_DigestFinal;
    fn_any C_SignInit, C_Sign, C_SignUpdate, C_SignFinal, C_SignRecoverInit, C_SignRecover;
    fn_any C_VerifyInit, C_Verify, C_VerifyUpdate, C_VerifyFinal, C_VerifyRecoverInit, C_VerifyRecover;
    fn_any C_DigestEncryptUpdate, C_DecryptDigestUpdate, C_SignEncryptUpdate, C_DecryptVerifyUpdate;
    CK_RV (*C_GenerateKey)(CK_ULONG, CK_MECHANISM *, CK_ATTRIBUTE *, CK_ULONG, CK_ULONG *);
    fn_any C_GenerateKeyPair, C_WrapKey, C_UnwrapKey, C_DeriveKey, C_SeedRandom, C_GenerateRandom;
    fn_any C_GetFunctionStatus, C_CancelFunction, C_WaitForSlotEvent;
} CK_FUNCTION_LIST;

#define CKR_CRYPTOKI_ALREADY_INITIALIZED 0x191UL
#define CKR_BUFFER_TOO_SMALL 0x150UL
#define CKF_OS_LOCKING_OK 0x2UL
#define CKF_RW_SESSION 0x2UL
#define CKF_SERIAL_SESSION 0x4UL
#define CKU_USER 1UL
#define CKA_CLASS 0x0UL
#define CKA_TOKEN 0x1UL
#define CKA_LABEL 0x3UL
#define CKA_KEY_TYPE 0x100UL
#define CKA_SENSITIVE 0x103UL
#define CKA_ENCRYPT 0x104UL
#define CKA_DECRYPT 0x105UL
#define CKA_VALUE_LEN 0x161UL
#define CKA_EXTRACTABLE 0x162UL
#define CKO_SECRET_KEY 0x4UL
#define CKK_AES 0x1FUL
#define CKM_AES_KEY_GEN 0x1080UL
#define CKM_AES_GCM 0x1087UL

struct cks_p11 {
    void *library;
    CK_FUNCTION_LIST *functions;
};

cks_p11 *cks_p11_load(const char *path, char *error, size_t errorLength) {
    void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        const char *reason = dlerror();
        snprintf(error, errorLength, "%s", reason ? reason : "dlopen failed");
        return NULL;
    }
    CK_RV (*getFunctionList)(CK_FUNCTION_LIST **) = (CK_RV(*)(CK_FUNCTION_LIST **))dlsym(library, "C_GetFunctionList");
    if (!getFunctionList) {
        snprintf(error, errorLength, "it has no C_GetFunctionList symbol: it is not a PKCS#11 module");
        dlclose(library);
        return NULL;
    }
    CK_FUNCTION_LIST *functions = NULL;
    CK_RV rv = getFunctionList(&functions);
    if (rv != CKS_CKR_OK || !functions) {
        snprintf(error, errorLength, "C_GetFunctionList failed (CKR 0x%lX)", rv);
        dlclose(library);
        return NULL;
    }
    if (functions->version.major != 2) {
        snprintf(error, errorLength, "it implements PKCS#11 %d.%d; cks needs 2.x", functions->version.major,
                 functions->version.minor);
        dlclose(library);
        return NULL;
    }
    CK_C_INITIALIZE_ARGS args;
    memset(&args, 0, sizeof args);
    args.flags = CKF_OS_LOCKING_OK;
    rv = functions->C_Initialize(&args);
    if (rv != CKS_CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        snprintf(error, errorLength, "C_Initialize failed (CKR 0x%lX)", rv);
        dlclose(library);
        return NULL;
    }
    cks_p11 *module = calloc(1, sizeof *module);
    if (!module) {
        snprintf(error, errorLength, "out of memory");
        return NULL;
    }
    module->library = library;
    module->functions = functions;
    return module;
}

void cks_p11_unload(cks_p11 *module) {
    if (!module) return;
    module->functions->C_Finalize(NULL);
    dlclose(module->library);
    free(module);
}

static void copy_padded(char *out, const CK_BYTE *in, size_t length) {
    size_t end = length;
    while (end > 0 && (in[end - 1] == ' ' || in[end - 1] == '\0')) end--;
    memcpy(out, in, end);
    out[end] = '\0';
}

CKS_ULONG cks_p11_find_token(cks_p11 *module, const char *label, CKS_ULONG *slot, cks_p11_token *info,
                             char *labels, size_t labelsLength) {
    if (labelsLength > 0) labels[0] = '\0';
    CK_ULONG count = 0;
    CK_RV rv = module->functions->C_GetSlotList(1, NULL, &count);
    if (rv != CKS_CKR_OK) return rv;
    if (count == 0) return CKS_CKR_TOKEN_NOT_PRESENT;
    CK_ULONG *slots = calloc(count, sizeof *slots);
    if (!slots) return 0x2UL; // CKR_HOST_MEMORY
    rv = module->functions->C_GetSlotList(1, slots, &count);
    if (rv != CKS_CKR_OK) { free(slots); return rv; }
    CK_RV result = CKS_CKR_TOKEN_NOT_PRESENT;
    size_t used = 0;
    for (CK_ULONG i = 0; i < count; i++) {
        CK_TOKEN_INFO token;
        if (module->functions->C_GetTokenInfo(slots[i], &token) != CKS_CKR_OK) continue;
        cks_p11_token seen;
        memset(&seen, 0, sizeof seen);
        copy_padded(seen.label, token.label, 32);
        if (labelsLength > used + 1) {
            int n = snprintf(labels + used, labelsLength - used, "%s%s", used ? "\n" : "", seen.label);
            if (n > 0) used += (size_t)n < labelsLength - used ? (size_t)n : labelsLength - used - 1;
        }
        if (strcmp(seen.label, label) == 0 && result != CKS_CKR_OK) {
            copy_padded(seen.manufacturer, token.manufacturerID, 32);
            copy_padded(seen.model, token.model, 16);
            copy_padded(seen.serial, token.serialNumber, 16);
            seen.firmwareMajor = token.firmwareVersion.major;
            seen.firmwareMinor = token.firmwareVersion.minor;
            *info = seen;
            *slot = slots[i];
            result = CKS_CKR_OK;
        }
    }
    free(slots);
    return result;
}

CKS_ULONG cks_p11_open_session(cks_p11 *module, CKS_ULONG slot, CKS_ULONG *session) {
    return module->functions->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, session);
}

CKS_ULONG cks_p11_close_session(cks_p11 *module, CKS_ULONG session) {
    return module->functions->C_CloseSession(session);
}

CKS_ULONG cks_p11_login(cks_p11 *module, CKS_ULONG session, const CKS_BYTE *pin, CKS_ULONG pinLength) {
    CK_RV rv = module->functions->C_Login(session, CKU_USER, pin, pinLength);
    return rv == CKS_CKR_USER_ALREADY_LOGGED_IN ? CKS_CKR_OK : rv;
}

CKS_ULONG cks_p11_find_secret_key(cks_p11 *module, CKS_ULONG session, const CKS_BYTE *label, CKS_ULONG labelLength,
                                  CKS_ULONG *key, CKS_ULONG *count) {
    CK_ULONG keyClass = CKO_SECRET_KEY;
    CK_ATTRIBUTE template[2] = {
        { CKA_CLASS, &keyClass, sizeof keyClass },
        { CKA_LABEL, (void *)label, labelLength },
    };
    *count = 0;
    CK_RV rv = module->functions->C_FindObjectsInit(session, template, 2);
    if (rv != CKS_CKR_OK) return rv;
    CK_ULONG found[2];
    CK_ULONG n = 0;
    rv = module->functions->C_FindObjects(session, found, 2, &n);
    module->functions->C_FindObjectsFinal(session);
    if (rv != CKS_CKR_OK) return rv;
    *count = n;
    if (n > 0) *key = found[0];
    return CKS_CKR_OK;
}

CKS_ULONG cks_p11_key_attributes(cks_p11 *module, CKS_ULONG session, CKS_ULONG key, CKS_ULONG *keyType,
                                 CKS_ULONG *valueLength, CKS_BYTE *canEncrypt, CKS_BYTE *canDecrypt) {
    CK_ULONG type = 0, length = 0;
    CK_BBOOL encrypt = 0, decrypt = 0;
    CK_ATTRIBUTE template[4] = {
        { CKA_KEY_TYPE, &type, sizeof type },
        { CKA_VALUE_LEN, &length, sizeof length },
        { CKA_ENCRYPT, &encrypt, sizeof encrypt },
        { CKA_DECRYPT, &decrypt, sizeof decrypt },
    };
    CK_RV rv = module->functions->C_GetAttributeValue(session, key, template, 4);
    // CKR_ATTRIBUTE_SENSITIVE / TYPE_INVALID (0x11, 0x12) still fill in the readable ones.
    if (rv != CKS_CKR_OK && rv != 0x11UL && rv != 0x12UL) return rv;
    *keyType = template[0].ulValueLen == (CK_ULONG)-1 ? (CK_ULONG)-1 : type;
    *valueLength = template[1].ulValueLen == (CK_ULONG)-1 ? 0 : length;
    *canEncrypt = template[2].ulValueLen == (CK_ULONG)-1 ? 0 : encrypt;
    *canDecrypt = template[3].ulValueLen == (CK_ULONG)-1 ? 0 : decrypt;
    return CKS_CKR_OK;
}

int cks_p11_is_aes(CKS_ULONG keyType) { return keyType == CKK_AES; }

static CK_RV gcm(cks_p11 *module, int encrypt, CKS_ULONG session, CKS_ULONG key, const CKS_BYTE *iv,
                 CKS_ULONG ivLength, const CKS_BYTE *aad, CKS_ULONG aadLength, const CKS_BYTE *in, CKS_ULONG inLength,
                 CKS_BYTE *out, CKS_ULONG *outLength) {
    CK_GCM_PARAMS params;
    params.pIv = (CK_BYTE *)iv;
    params.ulIvLen = ivLength;
    params.ulIvBits = ivLength * 8;
    params.pAAD = (CK_BYTE *)aad;
    params.ulAADLen = aadLength;
    params.ulTagBits = 128;
    CK_MECHANISM mechanism = { CKM_AES_GCM, &params, sizeof params };
    CK_RV rv = encrypt ? module->functions->C_EncryptInit(session, &mechanism, key)
                       : module->functions->C_DecryptInit(session, &mechanism, key);
    if (rv != CKS_CKR_OK) return rv;
    // A single-part operation ends with its call, success or not (except CKR_BUFFER_TOO_SMALL, which the
    // caller's sizing rules out).
    return encrypt ? module->functions->C_Encrypt(session, in, inLength, out, outLength)
                   : module->functions->C_Decrypt(session, in, inLength, out, outLength);
}

CKS_ULONG cks_p11_gcm_encrypt(cks_p11 *module, CKS_ULONG session, CKS_ULONG key, const CKS_BYTE *iv,
                              CKS_ULONG ivLength, const CKS_BYTE *aad, CKS_ULONG aadLength, const CKS_BYTE *in,
                              CKS_ULONG inLength, CKS_BYTE *out, CKS_ULONG *outLength) {
    return gcm(module, 1, session, key, iv, ivLength, aad, aadLength, in, inLength, out, outLength);
}

CKS_ULONG cks_p11_gcm_decrypt(cks_p11 *module, CKS_ULONG session, CKS_ULONG key, const CKS_BYTE *iv,
                              CKS_ULONG ivLength, const CKS_BYTE *aad, CKS_ULONG aadLength, const CKS_BYTE *in,
                              CKS_ULONG inLength, CKS_BYTE *out, CKS_ULONG *outLength) {
    return gcm(module, 0, session, key, iv, ivLength, aad, aadLength, in, inLength, out, outLength);
}

CKS_ULONG cks_p11_generate_test_key(cks_p11 *module, CKS_ULONG session, CKS_ULONG *key) {
    CK_ULONG length = 32;
    CK_BBOOL no = 0, yes = 1;
    CK_ATTRIBUTE template[5] = {
        { CKA_TOKEN, &no, sizeof no },
        { CKA_VALUE_LEN, &length, sizeof length },
        { CKA_ENCRYPT, &yes, sizeof yes },
        { CKA_DECRYPT, &yes, sizeof yes },
        { CKA_SENSITIVE, &yes, sizeof yes },
    };
    CK_MECHANISM mechanism = { CKM_AES_KEY_GEN, NULL, 0 };
    return module->functions->C_GenerateKey(session, &mechanism, template, 5, key);
}

CKS_ULONG cks_p11_destroy_object(cks_p11 *module, CKS_ULONG session, CKS_ULONG object) {
    return module->functions->C_DestroyObject(session, object);
}
