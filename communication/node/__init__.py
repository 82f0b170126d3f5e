"""communication/node"""
