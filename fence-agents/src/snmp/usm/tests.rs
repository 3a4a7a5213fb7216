use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const RFC3414_ENGINE: &str = "000000000000000000000002";

#[test]
fn rfc3414_a3_1_md5_key_localisation() {
    let ku = password_to_key(AuthProtocol::Md5, b"maplesyrup");
    assert_eq!(ku, hex("9faf3283884e92834ebc9847d8edd963"));
    let kul = localise_key(AuthProtocol::Md5, &ku, &hex(RFC3414_ENGINE));
    assert_eq!(kul, hex("526f5eed9fcce26f8964c2930787d82b"));
}

#[test]
fn rfc3414_a3_2_sha_key_localisation() {
    let ku = password_to_key(AuthProtocol::Sha1, b"maplesyrup");
    assert_eq!(ku, hex("9fb5cc0381497b3793528939ff788d5d79145211"));
    let kul = localise_key(AuthProtocol::Sha1, &ku, &hex(RFC3414_ENGINE));
    assert_eq!(kul, hex("6695febc9288e36282235fc7151f128497b38f3f"));
}

#[test]
fn rfc2202_hmac_vectors_truncated_to_96_bits() {
    let md5 = digest(AuthProtocol::Md5, &[0x0b; 16], b"Hi There");
    assert_eq!(md5.to_vec(), hex("9294727a3638bb1c13f48ef8")); // ...158bfc9d
    let sha = digest(AuthProtocol::Sha1, &[0x0b; 20], b"Hi There");
    assert_eq!(sha.to_vec(), hex("b617318655057264e28bc0b6")); // ...fb378c8ef146be00
    assert!(verify(AuthProtocol::Sha1, &[0x0b; 20], b"Hi There", &sha));
    assert!(!verify(AuthProtocol::Sha1, &[0x0b; 20], b"Hi there", &sha));
    assert!(!verify(
        AuthProtocol::Sha1,
        &[0x0b; 20],
        b"Hi There",
        &sha[..11]
    ));
}

#[test]
fn nist_sp800_38a_cfb128_aes128() {
    // F.3.13: IV 000102..0f split as boots 00010203, time 04050607, salt 08090a0b0c0d0e0f.
    let key = hex("2b7e151628aed2a6abf7158809cf4f3c");
    let plain = hex("6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51");
    let (cipher, salt) = encrypt(
        PrivProtocol::Aes128,
        &key,
        0x0001_0203,
        0x0405_0607,
        0x0809_0a0b_0c0d_0e0f,
        &plain,
    )
    .unwrap();
    assert_eq!(
        cipher,
        hex("3b3fd92eb72dad20333449f8e83cfb4a c8a64537a0b3a93fcde3cdad9f1ce58b")
    );
    assert_eq!(salt.to_vec(), hex("08090a0b0c0d0e0f"));
    let back = decrypt(
        PrivProtocol::Aes128,
        &key,
        0x0001_0203,
        0x0405_0607,
        &salt,
        &cipher,
    )
    .unwrap();
    assert_eq!(back, plain);
    // CFB needs no padding: a partial last block round-trips as is.
    let (short, salt) =
        encrypt(PrivProtocol::Aes128, &key, 1, 2, 3, b"nineteen bytes long").unwrap();
    assert_eq!(short.len(), 19);
    assert_eq!(
        decrypt(PrivProtocol::Aes128, &key, 1, 2, &salt, &short).unwrap(),
        b"nineteen bytes long"
    );
}

#[test]
fn fips81_des_cbc_vector() {
    // Key 0123456789abcdef, IV 1234567890abcdef = pre-IV 0 xor (boots 12345678 || salt 90abcdef).
    let key = hex("0123456789abcdef 0000000000000000");
    let plain = b"Now is the time for all ";
    let (cipher, salt) =
        encrypt(PrivProtocol::Des, &key, 0x1234_5678, 0, 0x90ab_cdef, plain).unwrap();
    assert_eq!(
        cipher,
        hex("e5c7cdde872bf27c 43e934008c389c0f 683788499a7c05f6")
    );
    assert_eq!(salt.to_vec(), hex("1234567890abcdef"));
    let back = decrypt(PrivProtocol::Des, &key, 0x1234_5678, 0, &salt, &cipher).unwrap();
    assert_eq!(back, plain);
}

#[test]
fn des_pads_to_whole_blocks_and_rejects_broken_input() {
    let key = hex("00112233445566778899aabbccddeeff");
    let (cipher, salt) = encrypt(PrivProtocol::Des, &key, 1, 0, 5, b"abc").unwrap();
    assert_eq!(cipher.len(), 8);
    assert_eq!(
        &decrypt(PrivProtocol::Des, &key, 1, 0, &salt, &cipher).unwrap()[..3],
        b"abc"
    );
    assert_eq!(
        decrypt(PrivProtocol::Des, &key, 1, 0, &salt, &cipher[..7]).unwrap_err(),
        UsmError::BadCiphertextLength(7)
    );
    assert_eq!(
        decrypt(PrivProtocol::Des, &key, 1, 0, &salt[..4], &cipher).unwrap_err(),
        UsmError::BadSalt(4)
    );
    assert_eq!(
        encrypt(PrivProtocol::Des, &key[..8], 1, 0, 5, b"abc").unwrap_err(),
        UsmError::ShortKey
    );
}
