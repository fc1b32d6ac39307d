"""The server's icon, a 48x48 PNG as a data URI (written by scripts/make_icon.py: do not edit).

The same drawing as icon.png, small enough to travel in every result's serverInfo.
"""

SIZES = "48x48"
PNG_DATA_URI = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAADAAAAAwCAMAAABg3Am1AAAAYFBMVEVYWdg1MopJSLZZW9ump+I0MohKSrloZ7llZso0MohGRrFg"
    "YuqAf8JHR7JUVtA6OJb+/v5NTsEAAABbXeFAPqJdYOU/PqCoqNrm5vaJidR3d8rc3PDHx+qWltNISLa5uefkYhPYAAAAIHRSTlOf"
    "oCIm/yRN//9NgE3//v39//4A/f38/v////////+s/765/tkAAAGNSURBVHjalZbreoMgDECptrXrFrFurgJe3v8thwQwChPJT79z"
    "IISAsNZEyVjXfeuo4/FirESSId51x7wOmAonfHZneB13FE7zxmBteZ4HKLTAMniYWlbm8HqKpZwZPDxT9d/xMGXyACzCi7lvdPSz"
    "CHlgAX81NEb/hpiwGZ3gRpGhsBm+CWLcCwl+b7BNPhYZxKOuH2KIzkAFzF9JV0+pAn4jYEIDrf8g4EAwE6j4fsUEXIE85n+IMNuE"
    "DnkqmIxEgv8lgsnokeD5XqgdL+c3Cc/HBBxNbnbb8zxMCf4RkOfBoiEmKM/zoKxR4ep5Hm6cE+xyzccvzxPh9ert7DSUOUUrvwq6"
    "nDjaQHnb4SvvBbNfrr39OhR+ILwTbP/7A1QBVPYANU1FeCu4fhhjR1RQHoW1f8YUbwTab3J3zahqyy/Crj9HepHR+jgh7Gd7Vaor"
    "2a9VSPV/ILA8/qKFHF4LZRbPb6ydcviL/osWGTy/LT/2+3n+A58O9wweHyfFdCr/m3/NaOU5JeqPeNv+AdR+iGzi3ZIrAAAAAElF"
    "TkSuQmCC"
)
