"""communication/http"""
