package cost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// ReadFigures reads a figures file written by a load run. Unknown fields
// are refused, so a file from another version of the model does not price
// silently wrong.
func ReadFigures(path string) (Figures, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Figures{}, fmt.Errorf("read figures: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f Figures
	if err := dec.Decode(&f); err != nil {
		return Figures{}, fmt.Errorf("read figures %s: %w", path, err)
	}
	if err := f.Validate(); err != nil {
		return Figures{}, fmt.Errorf("figures %s: %w", path, err)
	}
	return f, nil
}

// Validate reports figures the model cannot price: no log type, no event
// size, negative counts.
func (f Figures) Validate() error {
	var errs []error
	if f.LogTypes < 1 {
		errs = append(errs, errors.New("log_types must be at least 1"))
	}
	if f.BodyBytes <= 0 || f.ParquetBytesPerEvent <= 0 {
		errs = append(errs, errors.New("body_bytes and parquet_bytes_per_event must be positive"))
	}
	for name, v := range map[string]float64{
		"bigquery_bytes_per_event": f.BigQueryBytesPerEvent, "postgres_bytes_per_event": f.PostgresBytesPerEvent,
		"sqs_send_per_event": f.SQSSendPerEvent, "sqs_receive_per_event": f.SQSReceivePerEvent, "sqs_delete_per_event": f.SQSDeletePerEvent,
		"ore_batch_fixed_ms": f.OreBatchFixedMs, "ore_ms_per_event": f.OreMsPerEvent, "gcs_reads_per_object": f.GCSReadsPerObject,
		"gcs_lists_per_run": f.GCSListsPerRun, "masora_run_fixed_seconds": f.MasoraRunFixedSeconds, "masora_seconds_per_event": f.MasoraSecondsPerEvent,
	} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s is negative (%g)", name, v))
		}
	}
	return errors.Join(errs...)
}

// WriteFigures writes f as indented JSON to path.
func WriteFigures(path string, f Figures) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write figures: %w", err)
	}
	return nil
}
