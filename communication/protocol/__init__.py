"""communication/protocol"""
