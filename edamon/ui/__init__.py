"""edamon.ui"""
