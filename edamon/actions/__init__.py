"""edamon.actions"""
