module mlops-local/minio-shim

go 1.22
