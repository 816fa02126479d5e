package main

// The encrypted payload format of MinIO's admin API (madmin EncryptData /
// DecryptData, also implemented by minio-py's minio/crypto.py):
//
//	salt (32) | AEAD id (1) | nonce (8) | chunks
//
// The key is Argon2id(password=root secret key, salt) (id 0: AES-256-GCM,
// id 1: ChaCha20-Poly1305) or PBKDF2-SHA256 (id 2, FIPS builds: AES-256-GCM).
// The chunks follow secure-io/sio-go: each holds up to 16 KiB of plaintext
// plus a 16-byte tag; chunk i (from 1) is sealed with nonce || uint32le(i)
// and associated data 0x00 || tag(empty message, nonce || 0), whose first
// byte becomes 0x80 on the final chunk.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"sync"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

const (
	aeadArgon2AESGCM   = 0x00
	aeadArgon2ChaCha20 = 0x01
	aeadPBKDF2AESGCM   = 0x02

	sioBufSize   = 16 * 1024
	sioTagSize   = 16
	sioNonceSize = 8
	saltSize     = 32
	headerSize   = saltSize + 1 + sioNonceSize
)

var errNotAuthentic = errors.New("madmin: data is not authentic (wrong key or corrupted)")

// argon2id with 64 MiB of memory: one derivation at a time, as madmin does.
var argon2Mu sync.Mutex

func argon2Key(password string, salt []byte) []byte {
	argon2Mu.Lock()
	defer argon2Mu.Unlock()
	return argon2.IDKey([]byte(password), salt, 1, 64*1024, 4, 32)
}

func newAEAD(id byte, password string, salt []byte) (cipher.AEAD, error) {
	switch id {
	case aeadArgon2AESGCM, aeadPBKDF2AESGCM:
		var key []byte
		if id == aeadArgon2AESGCM {
			key = argon2Key(password, salt)
		} else {
			k, err := pbkdf2.Key(sha256.New, password, salt, 8192, 32)
			if err != nil {
				return nil, err
			}
			key = k
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		return cipher.NewGCM(block)
	case aeadArgon2ChaCha20:
		return chacha20poly1305.New(argon2Key(password, salt))
	default:
		return nil, errors.New("madmin: invalid encryption algorithm ID")
	}
}

// sioState carries the per-stream nonce and associated data of sio-go.
type sioState struct {
	aead  cipher.AEAD
	nonce []byte // 12 bytes: the 8 random ones + the little-endian sequence number
	ad    []byte // 0x00|0x80 || tag
	seq   uint32
}

func newSIOState(aead cipher.AEAD, nonce []byte) *sioState {
	full := make([]byte, aead.NonceSize())
	copy(full, nonce)
	ad := make([]byte, 1, 1+aead.Overhead())
	ad = aead.Seal(ad, full, nil, nil)
	return &sioState{aead: aead, nonce: full, ad: ad, seq: 1}
}

func (s *sioState) next(final bool) {
	if final {
		s.ad[0] = 0x80
	}
	binary.LittleEndian.PutUint32(s.nonce[len(s.nonce)-4:], s.seq)
	s.seq++
}

// decryptData reverses madmin.EncryptData / minio-py's crypto.encrypt.
func decryptData(password string, data []byte) ([]byte, error) {
	if len(data) < headerSize {
		return nil, errors.New("madmin: unexpected header")
	}
	salt, id, nonce := data[:saltSize], data[saltSize], data[saltSize+1:headerSize]
	aead, err := newAEAD(id, password, salt)
	if err != nil {
		return nil, err
	}
	st := newSIOState(aead, nonce)
	rest := data[headerSize:]
	var plain []byte
	// minio-py encrypts an empty payload into no chunk at all.
	for len(rest) > 0 {
		n := len(rest)
		final := n <= sioBufSize+sioTagSize
		if !final {
			n = sioBufSize + sioTagSize
		}
		if n < sioTagSize {
			return nil, errNotAuthentic
		}
		st.next(final)
		plain, err = st.aead.Open(plain, st.nonce, rest[:n], st.ad)
		if err != nil {
			return nil, errNotAuthentic
		}
		rest = rest[n:]
	}
	return plain, nil
}

// encryptData is madmin.EncryptData with Argon2id + AES-256-GCM.
func encryptData(password string, data []byte) ([]byte, error) {
	header := make([]byte, headerSize)
	if _, err := rand.Read(header[:saltSize]); err != nil {
		return nil, err
	}
	header[saltSize] = aeadArgon2AESGCM
	if _, err := rand.Read(header[saltSize+1:]); err != nil {
		return nil, err
	}
	aead, err := newAEAD(aeadArgon2AESGCM, password, header[:saltSize])
	if err != nil {
		return nil, err
	}
	st := newSIOState(aead, header[saltSize+1:])
	out := append(make([]byte, 0, len(header)+len(data)+(len(data)/sioBufSize+1)*sioTagSize), header...)
	for off := 0; ; off += sioBufSize {
		end := min(off+sioBufSize, len(data))
		final := end == len(data)
		st.next(final)
		out = st.aead.Seal(out, st.nonce, data[off:end], st.ad)
		if final {
			return out, nil
		}
	}
}
