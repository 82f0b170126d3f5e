"""communication/adapter"""
