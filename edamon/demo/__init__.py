"""edamon.demo"""
