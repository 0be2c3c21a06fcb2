module github.com/v6xlat/xlat

go 1.22
