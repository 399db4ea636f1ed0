package audit

import "time"

// The two time formats of the logs, written digit by digit: the layout
// interpreter of time.Time.AppendFormat, and the zone lookups of Date,
// Clock and Weekday (one each), cost more than the line's other fields
// together, and both formats are fixed. TestTimeFormatsMatchAppendFormat
// checks the bytes against AppendFormat's.

// appendRFC3339Micro appends t in UTC as timeLayout does
// ("2006-01-02T15:04:05.000000Z": microseconds truncated, as
// AppendFormat's fraction is).
func appendRFC3339Micro(b []byte, t time.Time) []byte {
	sec := t.Unix()
	y, mo, d, h, mi, s, _ := civil(sec)
	if y < 0 || y > 9999 { // outside four digits: leave the edge cases to time
		return t.UTC().AppendFormat(b, timeLayout)
	}
	b = append4(b, y)
	b = append(b, '-')
	b = append2(b, mo)
	b = append(b, '-')
	b = append2(b, d)
	b = append(b, 'T')
	b = appendClock(b, h, mi, s)
	b = append(b, '.')
	us := t.Nanosecond() / 1000
	b = append2(b, us/10000)
	b = append2(b, us/100%100)
	b = append2(b, us%100)
	return append(b, 'Z')
}

const (
	weekdays = "SunMonTueWedThuFriSat"
	months   = "JanFebMarAprMayJunJulAugSepOctNovDec"
)

// appendANSIC appends t in loc as time.ANSIC does ("Mon Jan _2 15:04:05
// 2006": the day padded with a space).
func appendANSIC(b []byte, t time.Time, loc *time.Location) []byte {
	_, off := t.In(loc).Zone()
	y, mo, d, h, mi, s, wd := civil(t.Unix() + int64(off))
	if y < 0 || y > 9999 {
		return t.In(loc).AppendFormat(b, time.ANSIC)
	}
	b = append(b, weekdays[wd*3:wd*3+3]...)
	b = append(b, ' ')
	b = append(b, months[(mo-1)*3:mo*3]...)
	b = append(b, ' ')
	if d < 10 {
		b = append(b, ' ', byte('0'+d))
	} else {
		b = append2(b, d)
	}
	b = append(b, ' ')
	b = appendClock(b, h, mi, s)
	b = append(b, ' ')
	return append4(b, y)
}

// appendClock appends "hh:mm:ss".
func appendClock(b []byte, h, mi, s int) []byte {
	b = append2(b, h)
	b = append(b, ':')
	b = append2(b, mi)
	b = append(b, ':')
	return append2(b, s)
}

// civil splits sec, seconds since 1970-01-01 00:00:00 of some wall
// clock, into that clock's proleptic Gregorian date, time of day and
// weekday (0 Sunday), by the days-to-civil algorithm of H. Hinnant's
// "chrono-Compatible Low-Level Date Algorithms".
func civil(sec int64) (year, month, day, hour, minute, second, weekday int) {
	days := sec / 86400
	rem := sec % 86400
	if rem < 0 {
		days--
		rem += 86400
	}
	hour, minute, second = int(rem/3600), int(rem/60%60), int(rem%60)
	weekday = int((days + 4) % 7) // 1970-01-01 was a Thursday
	if weekday < 0 {
		weekday += 7
	}
	z := days + 719468 // days since 0000-03-01
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097                                  // [0, 146096]
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // [0, 399]
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // [0, 365], from March 1
	mp := (5*doy + 2) / 153                                // [0, 11], March first
	day = int(doy - (153*mp+2)/5 + 1)
	month = int(mp + 3)
	if mp >= 10 {
		month = int(mp - 9)
	}
	year = int(yoe + era*400)
	if month <= 2 {
		year++
	}
	return year, month, day, hour, minute, second, weekday
}

// append2 appends v (0 to 99) as two digits.
func append2(b []byte, v int) []byte { return append(b, byte('0'+v/10), byte('0'+v%10)) }

// append4 appends v (0 to 9999) as four digits.
func append4(b []byte, v int) []byte { return append2(append2(b, v/100), v%100) }
