"""communication/core"""
