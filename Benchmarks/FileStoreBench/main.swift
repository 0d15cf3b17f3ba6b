print("FileStoreBench")
