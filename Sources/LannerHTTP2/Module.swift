// LannerHTTP2 module placeholder until its first file lands.
