"""A small, hand-made geography that shipping's tests seed stores with (the real one has 34,000 cities).

It holds what the rules need: London at the wire contract's coordinates, a country with more than ten
cities starting alike (Decision Q2) and one with exactly ten, names with accents and letters outside
latin1, and names containing ``%`` and ``_`` (which a prefix match must take literally).
"""

from __future__ import annotations

from roboshop.shipping.domain import City, Country, Geography, ascii_city_name

LONDON_ID = 2643743
SAN_DIEGO_ID = 5391811


def _city(uuid: int, code: str, name: str, latitude: float, longitude: float, region: str = "01") -> City:
    return City(uuid, code, ascii_city_name(name), name, region, latitude, longitude)


COUNTRIES = (
    Country(2635167, "GB", "United Kingdom"),
    Country(6252001, "US", "United States"),
    Country(2921044, "DE", "Germany"),
    Country(798544, "PL", "Poland"),
    Country(1562822, "VN", "Vietnam"),
    Country(661882, "AX", "Åland Islands"),
    Country(783754, "AL", "Albania"),
    Country(2542007, "MA", "Morocco"),
)

# Eleven cities of the US start with "san" (more than ten: the first nine are answered).
SAN_CITIES = (
    _city(5391811, "US", "San Diego", 32.71571, -117.16472, "CA"),
    _city(5392171, "US", "San Jose", 37.33939, -121.89496, "CA"),
    _city(5391959, "US", "San Francisco", 37.77493, -122.41942, "CA"),
    _city(4726206, "US", "San Antonio", 29.42412, -98.49363, "TX"),
    _city(5391710, "US", "San Bernardino", 34.10834, -117.28977, "CA"),
    _city(5392423, "US", "San Mateo", 37.56299, -122.32553, "CA"),
    _city(5392263, "US", "San Leandro", 37.72493, -122.15608, "CA"),
    _city(5392368, "US", "San Marcos", 33.14337, -117.16614, "CA"),
    _city(5392567, "US", "San Rafael", 37.97353, -122.53109, "CA"),
    _city(4726491, "US", "San Angelo", 31.46377, -100.43704, "TX"),
    _city(4843564, "US", "Sanford", 35.47988, -79.18030, "NC"),
)
# Exactly ten cities of Morocco start with "ait" (not more than ten: all are answered).
AIT_CITIES = tuple(_city(2560000 + n, "MA", f"Ait Town {n}", 31.0 + n / 10, -7.0, "05") for n in range(10))

CITIES = (
    _city(LONDON_ID, "GB", "London", 51.514125, -0.093689, "ENG"),
    _city(2643734, "GB", "Londonderry County Borough", 54.99721, -7.30917, "NIR"),
    _city(2643697, "GB", "Long Eaton", 52.89855, -1.27136, "ENG"),
    _city(2643696, "GB", "Longfield", 51.3969, 0.30212, "ENG"),
    _city(2653822, "GB", "Cardiff", 51.48, -3.18, "WLS"),
    _city(5128581, "US", "New York City", 40.7141667, -74.0063889, "NY"),
    *SAN_CITIES,
    _city(9000001, "US", "100% Town", 40.0, -100.0, "KS"),
    _city(9000002, "US", "1000 Oaks", 34.17, -118.84, "CA"),
    _city(9000003, "US", "Under_score", 41.0, -101.0, "NE"),
    _city(9000004, "US", "Underscore", 41.5, -101.5, "NE"),
    _city(2934246, "DE", "Düsseldorf", 51.22172, 6.77616, "07"),
    _city(2950159, "DE", "Berlin", 52.516667, 13.4, "16"),
    _city(3093133, "PL", "Łódź", 51.75, 19.46667, "74"),
    _city(1905468, "VN", "Bồ Đề", 21.05, 105.88, "44"),
    _city(3041732, "AX", "Mariehamn", 60.09726, 19.93481, "01"),
    _city(3183875, "AL", "Tirana", 41.3275, 19.81889, "50"),
    *AIT_CITIES,
)

GEOGRAPHY = Geography(countries=COUNTRIES, cities=CITIES, source="tests")
